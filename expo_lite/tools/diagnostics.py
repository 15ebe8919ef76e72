"""`expo-lite explain`: run the engine over a task split and report the method's own diagnostic.

The paper's argument for self-explanations is that a good positive sample is (1) likely under the
current policy and (2) leads to the right answer. Expert solutions satisfy (2), not (1). So besides
valid rates and rejection reasons, we report the mean per-token NLL under P(q) of the chosen
self-explanations and of the dataset's expert solutions, and their ratio (the paper saw ~2x).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from .. import interrupts
from ..algorithms.explain import REASON_HELP, REASONS, Explanation, explain
from ..algorithms.positives import expert_targets
from ..config import ExpoConfig, PromptConfig
from ..core.logprobs import SequenceScore, score_completions
from ..data.tasks import Problem

EXPLAIN_BATCH = 8  # questions sampled together (and appended to explanations.jsonl together)


def expert_scores(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, prompts: PromptConfig) -> list[SequenceScore | None]:
    """NLL under P(q) of each problem's expert solution, formatted exactly like a self-explanation."""
    targets = expert_targets(tokenizer, problems, fmt, prompts)  # the SFT-GT-CoT baseline's own targets
    scored = iter(score_completions(model, [p for p, _ in targets], [c for _, c in targets], tokenizer.pad_token_id))
    return [next(scored) if p.solution else None for p in problems]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(records: list[Explanation], experts: list[SequenceScore | None]) -> dict[str, Any]:
    by_level: dict[Any, list[Explanation]] = defaultdict(list)
    for r in records:
        by_level[r.level].append(r)
    levels = {
        str(level): {
            "questions": len(rs),
            "valid": sum(r.valid for r in rs),
            "valid_rate": sum(r.valid for r in rs) / len(rs),
            "reasons": dict(Counter(r.reason for r in rs if not r.valid)),
            "tries": sum(len(r.try_reasons) for r in rs),
            "try_reasons": dict(Counter(t for r in rs for t in r.try_reasons if t in REASONS)),
        }
        for level, rs in sorted(by_level.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    }
    self_nll = [-r.mean_logprob for r in records if r.valid and r.mean_logprob is not None]
    expert_nll = [e.nll for e in experts if e is not None]
    paired = [(-r.mean_logprob, e.nll) for r, e in zip(records, experts, strict=True) if r.valid and e is not None]
    mean_self, mean_expert = _mean(self_nll), _mean(expert_nll)
    gains = [r.answer_gain for r in records if r.valid and r.answer_gain is not None]
    return {
        "questions": len(records),
        "valid": sum(r.valid for r in records),
        "valid_rate": sum(r.valid for r in records) / max(len(records), 1),
        "reasons": {reason: sum(r.reason == reason for r in records) for reason in REASONS},
        "tries": sum(len(r.try_reasons) for r in records),
        "try_reasons": dict(Counter(t for r in records for t in r.try_reasons)),
        "by_level": levels,
        "nll_self_explanation": mean_self,
        "nll_expert": mean_expert,
        "nll_ratio_expert_over_self": (mean_expert / mean_self) if mean_self and mean_expert is not None else None,
        "paired_questions": len(paired),
        "paired_nll_ratio": (_mean([e for _, e in paired]) / _mean([s for s, _ in paired])) if paired else None,
        # property (2): nats the kept tries' reasoning adds to log pi(answer | P(q)) (algorithms/answer_gain.py)
        "answer_gain_self": _mean(gains),
    }


def render_summary(summary: dict[str, Any], console: Any) -> None:
    """The summary as two tables that read the same on a terminal, in a notebook and piped (80 columns): one
    column per level, one row per check (the tries it refused), the reasons spelled out below."""
    from rich.table import Table

    columns = [(f"level {level}" if level != "None" else "none", row) for level, row in summary["by_level"].items()]
    if len(columns) > 1 or not columns:
        columns.append(("all", summary))
    elif columns[0][0] == "none":  # a task without levels (GSM8K, a user's file): its one column is all of it
        columns = [("all", summary)]
    # no rules, two spaces between columns: five levels, "none" and "all" fit 80 columns with every label whole
    table = Table(title="Self-explanations", title_justify="left", box=None, pad_edge=False, padding=(0, 0, 0, 2),
                  header_style="bold")
    table.add_column("", no_wrap=True)
    for name, _ in columns:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_row("questions", *(str(row["questions"]) for _, row in columns))
    table.add_row("valid", *(str(row["valid"]) for _, row in columns))
    table.add_row("valid rate", *(f"{row['valid_rate']:.0%}" for _, row in columns))
    table.add_row("tries", *(str(row["tries"]) for _, row in columns))
    table.add_row("refused by", *([""] * len(columns)))
    for reason in REASONS:
        table.add_row(f"  {reason}", *(str(row["try_reasons"].get(reason, 0)) for _, row in columns))
    console.print(table)
    console.print("Each try is refused by the first check it fails, in the order above:")
    for reason in REASONS:
        console.print(f"  {reason:<{max(map(len, REASONS))}} {REASON_HELP[reason]}")
    console.print()
    # ExPO's two properties of a positive: (1) likely under the policy, (2) raises the likelihood of the answer
    nll = Table(title="Under P(q): (1) likelihood, (2) answer gain", title_justify="left", box=None, pad_edge=False,
                padding=(0, 0, 0, 2), show_header=False)
    nll.add_column("")
    nll.add_column("", justify="right")

    def fmt(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    nll.add_row("mean NLL per token, self-explanations", fmt(summary["nll_self_explanation"]))
    nll.add_row("mean NLL per token, expert solutions", fmt(summary["nll_expert"]))
    nll.add_row("ratio expert/self (the paper: ≈ 2)", fmt(summary["nll_ratio_expert_over_self"], ".2f"))
    nll.add_row(f"paired ratio ({summary['paired_questions']} questions)", fmt(summary["paired_nll_ratio"], ".2f"))
    gain = summary["answer_gain_self"]
    nll.add_row("answer gain of the kept self-explanations", "n/a" if gain is None else f"{gain:+.2f} nats")
    console.print(nll)


def run_explain(cfg: ExpoConfig, split: str | None = None, limit: int | None = None, console: Any = None):
    """Explain a task split into `<train.output_dir>/<train.run_name>-explain`; returns (run dir, summary).
    Explanations are appended as each batch finishes, so a Ctrl-C keeps what was explained (the summary needs
    the whole split)."""

    from ..data.tasks import load_task
    from ..io import append_jsonl, atomic_write_json
    from ..models.loader import load_model
    from ..progress import PhaseProgress, make_console
    from ..run.rundir import RunLock, check_writable, create_run_dir, with_run_name

    console = console or make_console()
    task = load_task(cfg.task, split)
    problems = task.problems[:limit] if limit else task.problems
    console.print(task.summary())
    check_writable(Path(cfg.train.output_dir))
    model, tokenizer = load_model(cfg)
    # A folder of its own, `<run_name>-explain`: explaining first must not take the name the training run will want
    # (it did, and `expo-lite train` then landed in demo-2). After the model loads: a model that cannot load
    # leaves no empty folder behind.
    run = create_run_dir(with_run_name(cfg, f"{cfg.train.run_name}-explain"))
    records: list[Explanation] = []
    work = (f"{len(problems)} questions x {cfg.explain.num_tries} tries of up to {cfg.explain.max_new_tokens} "
            f"tokens, then the NLL of each valid try and of each expert solution under P(q)")
    with RunLock(run.path), PhaseProgress(console, "explain", len(problems), work) as bar:
        try:
            for start in range(0, len(problems), EXPLAIN_BATCH):
                batch = explain(model, tokenizer, problems[start : start + EXPLAIN_BATCH], task.answer_format,
                                cfg.explain, cfg.prompt)
                for rec in batch:
                    append_jsonl(run.explanations_path, rec.to_json())
                records += batch
                bar.advance(len(batch))
                interrupts.honour()  # a Ctrl-C dropped inside this batch is acted on here, its records kept
        except KeyboardInterrupt:
            interrupts.acknowledge()
            console.print(f"[yellow]interrupted after {len(records)}/{len(problems)} questions; their explanations "
                          f"are in {run.explanations_path} (no summary: it needs the whole split)[/yellow]")
            raise
        summary = summarize(records, expert_scores(model, tokenizer, problems, task.answer_format, cfg.prompt))
        summary["skipped_rows"] = dict(task.skipped)
        atomic_write_json(run.path / "explain_summary.json", summary)
    render_summary(summary, console)
    console.print(f"explanations: {run.explanations_path}\nsummary: {run.path / 'explain_summary.json'}")
    return run, summary
