"""`expo-lite eval`: pass@k (unbiased, from n >= k samples) and greedy accuracy, overall and per level/type.

pass@k for one question with n samples of which c are correct is 1 - C(n-c, k) / C(n, k): the chance
that k samples drawn without replacement from the n contain a correct one (Chen et al., 2021). It is
computed as a running product so it never forms huge binomials. The paper reports pass@4 at T=0.7.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from .. import interrupts
from ..config import EvalConfig, PromptConfig
from ..core.sampling import MAX_ROWS, Row, decode
from ..data.prompts import standard_prompt
from ..data.tasks import Problem
from ..stats import mean_interval
from ..verify.formats import answer_format


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):  # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
        product *= 1.0 - k / i
    return 1.0 - product


@dataclass
class QuestionResult:
    problem_id: str
    level: int | None
    type: str | None
    n: int
    correct: int
    greedy_correct: bool


def aggregate(results: list[QuestionResult], k: int) -> dict[str, Any]:
    """Mean pass@k and greedy accuracy overall, by level and by type, each with its 95% interval (Wilson
    when every question scores 0 or 1, as greedy accuracy and pass@k with n = k do; else a bootstrap)."""

    def summary(rows: list[QuestionResult]) -> dict[str, Any]:
        passes = [pass_at_k(r.n, r.correct, k) for r in rows]
        greedy = [float(r.greedy_correct) for r in rows]
        return {
            "questions": len(rows),
            f"pass@{k}": sum(passes) / len(rows),
            "greedy_accuracy": sum(greedy) / len(rows),
            "sample_accuracy": sum(r.correct for r in rows) / sum(r.n for r in rows),
            f"pass@{k}_ci95": list(mean_interval(passes)),
            "greedy_accuracy_ci95": list(mean_interval(greedy)),
        }

    out: dict[str, Any] = {"k": k, "overall": summary(results) if results else None}
    for field_name, key in (("level", "by_level"), ("type", "by_type")):
        groups: dict[Any, list[QuestionResult]] = defaultdict(list)
        for r in results:
            value = getattr(r, field_name)
            if value is not None and value != -1:
                groups[value].append(r)
        out[key] = {str(v): summary(rows) for v, rows in sorted(groups.items(), key=lambda kv: str(kv[0]))}
    return out


def percent_with_interval(summary: dict[str, Any], metric: str) -> str:
    """`41.7% [19.3, 68.0]`: a metric of `aggregate` with its 95% interval, in percent."""
    low, high = summary[f"{metric}_ci95"]
    return f"{summary[metric]:.1%} [{100 * low:.1f}, {100 * high:.1f}]"


def evaluate(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, e: EvalConfig, prompts: PromptConfig,
             progress: Any = None, results: list[QuestionResult] | None = None) -> list[QuestionResult]:
    """n samples at eval.temperature plus one greedy answer per question, checked against the gold answer.
    Results are appended to `results` (if given) batch by batch, so an interrupted caller keeps them."""
    results = [] if results is None else results
    per_call = max(1, MAX_ROWS // (e.n + 1))  # questions whose n samples + greedy answer share one decode
    for start in range(0, len(problems), per_call):
        chunk = problems[start : start + per_call]
        rows = []
        for p in chunk:
            ids = tuple(tokenizer(standard_prompt(tokenizer, p.question, fmt, prompts, p.context), add_special_tokens=False)["input_ids"])
            rows += [Row(ids, e.temperature, e.max_new_tokens)] * e.n + [Row(ids, 0.0, e.max_new_tokens)]
        samples = decode(model, tokenizer, rows)
        rows = [p for p in chunk for _ in range(e.n + 1)]
        verdicts = answer_format(fmt).are_correct([g.text for g in samples], [p.answer for p in rows],
                                                  [p.verify_context() for p in rows], [p.id for p in rows])
        for k, p in enumerate(chunk):
            mine = verdicts[k * (e.n + 1) : (k + 1) * (e.n + 1)]
            results.append(QuestionResult(p.id, p.level, p.type, e.n, sum(mine[: e.n]), mine[e.n]))
        if progress is not None:
            progress(len(chunk))
        interrupts.honour()  # a Ctrl-C dropped inside this call is acted on here, its questions kept
    return results


def run_eval(target: str, overrides: list[str] | None = None, split: str | None = None, limit: int | None = None,
             base_model: bool = False, console: Any = None) -> dict[str, Any]:
    """Evaluate a config (its base model) or a run directory (its trained adapter); writes eval.json."""
    from pathlib import Path

    from rich.table import Table
    from transformers import set_seed

    from ..config import load_config
    from ..data.tasks import answer_format, load_task
    from ..io import atomic_write_json
    from ..models.loader import load_adapter_weights, load_model, reset_unsloth_flags
    from ..progress import PhaseProgress, make_console
    from ..run.rundir import CONFIG_FILE, RunDir, RunLock, create_run_dir

    console = console or make_console()
    reset_unsloth_flags()
    path = Path(target)
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a run directory (no {CONFIG_FILE}); pass a run dir or a YAML config")
        run, cfg = RunDir(path), load_config(path / CONFIG_FILE, overrides)
    else:
        run, cfg = None, load_config(path, overrides)
    if run is not None and not base_model and not (run.adapter_path / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"{run.adapter_path} holds no trained adapter; train first or pass --base")
    task = load_task(cfg.task, split or cfg.task.eval_split)
    problems = task.problems[: limit or cfg.eval.max_samples or len(task.problems)]
    model, tokenizer = load_model(cfg)
    adapter = None
    if run is None:  # a config: its base model, evaluated into a fresh run directory made only now
        run = create_run_dir(cfg)
    elif not base_model:
        load_adapter_weights(model, run.adapter_path)
        adapter = str(run.adapter_path)
    set_seed(cfg.train.seed)  # the same config and adapter give the same samples, so runs compare fairly
    fmt = answer_format(cfg.task)
    results: list[QuestionResult] = []
    work = f"{len(problems)} questions x ({cfg.eval.n} samples at T={cfg.eval.temperature} + 1 greedy), up to {cfg.eval.max_new_tokens} tokens"

    def describe(rows: list[QuestionResult]) -> dict[str, Any]:
        report = aggregate(rows, cfg.eval.k) if rows else {}
        report.update({"model": cfg.model.name, "adapter": adapter, "task": cfg.task.name,
                       "split": split or cfg.task.eval_split, "n": cfg.eval.n, "temperature": cfg.eval.temperature,
                       "algo": cfg.algo.name, "questions": [asdict(r) for r in rows]})
        return report

    with RunLock(run.path), PhaseProgress(console, "eval", len(problems), work) as bar:
        try:
            evaluate(model, tokenizer, problems, fmt, cfg.eval, cfg.prompt, bar.advance, results)
        except KeyboardInterrupt:
            interrupts.acknowledge()  # this press is being acted on: the partial file must not be cut short by it
            atomic_write_json(run.path / "eval.partial.json", {**describe(results), "partial": True,
                                                                "questions_planned": len(problems)})
            console.print(f"[yellow]interrupted after {len(results)}/{len(problems)} questions; their results are in "
                          f"{run.path / 'eval.partial.json'} (eval.json is written only for a whole split)[/yellow]")
            raise
        report = describe(results)
        atomic_write_json(run.path / "eval.json", report)
    table = Table(title=f"pass@{cfg.eval.k} (n={cfg.eval.n}, T={cfg.eval.temperature}) and greedy accuracy")
    for col in ("group", "questions", f"pass@{cfg.eval.k} [95% CI]", "greedy [95% CI]"):
        table.add_column(col, justify="right")
    rows = [("all", report["overall"])] + [(f"level {lv}", s) for lv, s in report["by_level"].items()]
    for name, s in rows:
        table.add_row(name, str(s["questions"]), percent_with_interval(s, f"pass@{cfg.eval.k}"),
                      percent_with_interval(s, "greedy_accuracy"))
    console.print(table)
    console.print(f"eval.json: {run.path / 'eval.json'}")
    return report
