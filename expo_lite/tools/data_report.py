"""`expo-lite data`: load a task exactly as training would and show what a user needs to trust it.

Before renting a GPU: how many rows were read, how many were skipped and why (with examples), how the
problems spread over levels and types, which answer format the prompts ask for and how answers will be
graded, and one real P(q) as the model will see it. Nothing is downloaded: the tokenizer is read from
the local cache or directory only, and without it the raw user turn is shown.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..config import ExpoConfig, ModelConfig, PromptConfig
from ..data.tasks import TaskData
from ..verify.formats import Item, answer_format
from ..verify.formats.program import Program


def describe(cfg: ExpoConfig, task: TaskData, split: str | None = None) -> dict[str, Any]:
    """Facts about `task`, the split as training loads it (`load_task`, which raises TaskError when nothing is
    usable and ProgramCheckError when a user's check cannot be imported or answers none of the first rows). The
    sample P(q) is apart (`sample_prompt`): it needs transformers, seconds to import, so the CLI prints these
    facts first."""
    fmt = answer_format(task.answer_format)
    return {
        "task": cfg.task.name,
        "source": cfg.task.path or ("embedded generator" if cfg.task.name in ("arithmetic", "countdown") else "hub"),
        "split": split or cfg.task.split,
        "rows": task.rows,
        "usable": len(task.problems) + task.filtered,
        "selected": len(task.problems),
        "filters": [step.describe() for step in task.filters],  # what each of task.levels/types/max_samples kept
        "notes": task.notes,  # task keys that do nothing for this task
        "skipped": {reason: {"count": n, "examples": task.skipped_examples.get(reason, [])}
                    for reason, n in task.skipped.most_common()},
        "unknown_level": task.unknown_level,
        "by_level": _counts(p.level for p in task.problems),
        "by_type": _counts(p.type for p in task.problems),
        "answer_format": task.answer_format,
        "grading": fmt.grading,
        "self_check": _self_check(fmt, task) if isinstance(fmt, Program) else None,
        "with_solution": sum(bool(p.solution) for p in task.problems),
    }


def _self_check(fmt: Program, task: TaskData) -> dict[str, Any]:
    """A user's check run on every row's own gold answer, which it should call right: the rows it judged wrong,
    and apart from them the calls that gave no verdict (raised, timed out, not True/False), before any training
    depends on it. (A check that does not import, or answers none of the first rows, never gets here: loading the
    task refused it, Program.preflight.)"""
    results = fmt.judge_reporting([Item(p.answer, p.answer, p.verify_context(), p.id) for p in task.problems])
    wrong = [p.id for p, (verdict, error) in zip(task.problems, results, strict=True) if error is None and not verdict]
    failed = [(p.id, error) for p, (_, error) in zip(task.problems, results, strict=True) if error is not None]
    return {"rows": len(task.problems), "gold_judged_wrong": len(wrong), "examples": wrong[:3],
            "no_verdict": len(failed), "no_verdict_examples": [f"{rid}: {error}" for rid, error in failed[:3]]}


def _counts(values: Any) -> dict[str, int]:
    counts = Counter("unknown" if v is None else str(v) for v in values)
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] == "unknown", len(kv[0]), kv[0])))


def sample_prompt(model: ModelConfig, prompts: PromptConfig, task: TaskData) -> dict[str, Any]:
    """The first problem's P(q) as the model will see it (chat-templated when the tokenizer is on disk)."""
    from ..data.prompts import standard_prompt, user_text

    problem = task.problems[0]
    sample = {"id": problem.id, "gold": problem.answer, "level": problem.level, "type": problem.type}
    try:
        tokenizer = _local_tokenizer(model)
        sample["prompt"] = standard_prompt(tokenizer, problem.question, task.answer_format, prompts, problem.context)
        sample["templated"] = True
    except Exception as exc:  # noqa: BLE001 - no local tokenizer: show the user turn and say why
        sample["prompt"] = user_text(problem.question, task.answer_format, prompts, context=problem.context)
        sample["templated"] = False
        sample["why_not_templated"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return sample


def _local_tokenizer(model: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    from ..models.loader import prepare_tokenizer, resolve_model_path

    path = resolve_model_path(model.name)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=model.trust_remote_code)
    return prepare_tokenizer(tokenizer, model.chat_template)


def render(info: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    console.print(f"[bold]task[/bold] {info['task']}  [bold]split[/bold] {info['split']}  [bold]source[/bold] {info['source']}")
    skipped = sum(s["count"] for s in info["skipped"].values())
    console.print(f"rows read {info['rows']} | usable {info['usable']} | skipped {skipped} | selected {info['selected']}"
                  + (f" | {info['unknown_level']} with unknown level" if info["unknown_level"] else ""))
    for line in info["filters"] or ["no filter (task.levels, task.types, task.max_samples unset)"]:
        console.print(f"filter: {line}", markup=False, highlight=False)
    for note in info["notes"]:
        console.print(f"[yellow]note: {note}[/yellow]")
    console.print(f"answer format: {info['answer_format']} (what the prompt asks for); graded by {info['grading']}")
    console.print(f"expert solutions (for the SFT-GT-CoT / expert-CoT baselines): {info['with_solution']} of {info['selected']}")
    check = info.get("self_check")
    if check:
        right = check["rows"] - check["gold_judged_wrong"] - check["no_verdict"]
        style = "green" if right == check["rows"] else "red"
        console.print(f"[{style}]your check on each row's own gold answer: {right} of {check['rows']} right[/{style}]"
                      + (f"; judged wrong {check['gold_judged_wrong']}: {', '.join(check['examples'])}"
                         if check["gold_judged_wrong"] else "")
                      + (f"; no verdict {check['no_verdict']}: {'; '.join(check['no_verdict_examples'])}"
                         if check["no_verdict"] else ""), markup=True, highlight=False)
    if info["skipped"]:
        table = Table(title="skipped rows")
        for col in ("reason", "rows", "examples"):
            table.add_column(col)
        for reason, s in info["skipped"].items():
            table.add_row(reason, str(s["count"]), ", ".join(s["examples"]))
        console.print(table)
    for key, title in (("by_level", "level"), ("by_type", "type")):
        if len(info[key]) > 1 or "unknown" not in info[key]:
            table = Table(title=f"problems by {title}")
            table.add_column(title)
            table.add_column("problems", justify="right")
            for value, n in info[key].items():
                table.add_row(value, str(n))
            console.print(table)


def render_sample(sample: dict[str, Any], console: Any) -> None:
    how = "chat-templated P(q)" if sample["templated"] else f"user turn of P(q) (no local tokenizer: {sample['why_not_templated']})"
    console.print(f"[bold]sample {how}[/bold] for {sample['id']} (gold answer: {sample['gold']}):")
    console.print(sample["prompt"], markup=False, highlight=False)
