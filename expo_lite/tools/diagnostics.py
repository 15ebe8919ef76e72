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

from ..algorithms.explain import REASONS, Explanation, explain
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
        }
        for level, rs in sorted(by_level.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    }
    self_nll = [-r.mean_logprob for r in records if r.valid and r.mean_logprob is not None]
    expert_nll = [e.nll for e in experts if e is not None]
    paired = [(-r.mean_logprob, e.nll) for r, e in zip(records, experts, strict=True) if r.valid and e is not None]
    mean_self, mean_expert = _mean(self_nll), _mean(expert_nll)
    return {
        "questions": len(records),
        "valid": sum(r.valid for r in records),
        "valid_rate": sum(r.valid for r in records) / max(len(records), 1),
        "reasons": {reason: sum(r.reason == reason for r in records) for reason in REASONS},
        "try_reasons": dict(Counter(t for r in records for t in r.try_reasons)),
        "by_level": levels,
        "nll_self_explanation": mean_self,
        "nll_expert": mean_expert,
        "nll_ratio_expert_over_self": (mean_expert / mean_self) if mean_self and mean_expert is not None else None,
        "paired_questions": len(paired),
        "paired_nll_ratio": (_mean([e for _, e in paired]) / _mean([s for s, _ in paired])) if paired else None,
    }


def render_summary(summary: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title="Self-explanations by level")
    for col in ("level", "questions", "valid", "valid rate", *REASONS):
        table.add_column(col, justify="right")
    for level, row in summary["by_level"].items():
        table.add_row(level, str(row["questions"]), str(row["valid"]), f"{row['valid_rate']:.0%}",
                      *(str(row["reasons"].get(r, 0)) for r in REASONS))
    table.add_row("all", str(summary["questions"]), str(summary["valid"]), f"{summary['valid_rate']:.0%}",
                  *(str(summary["reasons"][r]) for r in REASONS), style="bold")
    console.print(table)
    nll = Table(title="Mean NLL per token under P(q) (the paper saw expert ≈ 2x self-explanation)")
    nll.add_column("self-explanations", justify="right")
    nll.add_column("expert solutions", justify="right")
    nll.add_column("ratio expert/self", justify="right")
    nll.add_column(f"paired ratio ({summary['paired_questions']} q)", justify="right")

    def fmt(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    nll.add_row(fmt(summary["nll_self_explanation"]), fmt(summary["nll_expert"]),
                fmt(summary["nll_ratio_expert_over_self"], ".2f"), fmt(summary["paired_nll_ratio"], ".2f"))
    console.print(nll)


def run_explain(cfg: ExpoConfig, split: str | None = None, limit: int | None = None, console: Any = None):
    """Explain a task split into a run directory; returns (run dir, summary). Explanations are appended as
    each batch finishes, so a Ctrl-C keeps what was explained (the summary needs the whole split)."""

    from ..data.tasks import load_task
    from ..io import append_jsonl, atomic_write_json
    from ..models.loader import load_model
    from ..progress import PhaseProgress, make_console
    from ..run.rundir import RunLock, check_writable, create_run_dir

    console = console or make_console()
    task = load_task(cfg.task, split)
    problems = task.problems[:limit] if limit else task.problems
    console.print(task.summary())
    check_writable(Path(cfg.train.output_dir))
    model, tokenizer = load_model(cfg)
    run = create_run_dir(cfg)  # after the model loads: a model that cannot load leaves no empty run behind
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
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted after {len(records)}/{len(problems)} questions; their explanations "
                          f"are in {run.explanations_path} (no summary: it needs the whole split)[/yellow]")
            raise
        summary = summarize(records, expert_scores(model, tokenizer, problems, task.answer_format, cfg.prompt))
        summary["skipped_rows"] = dict(task.skipped)
        atomic_write_json(run.path / "explain_summary.json", summary)
    render_summary(summary, console)
    console.print(f"explanations: {run.explanations_path}\nsummary: {run.path / 'explain_summary.json'}")
    return run, summary
