"""Tasks: a list of problems (question, gold answer, optional expert solution, level, type, and the row's
other columns that its answer format reads).

Sources: the embedded `arithmetic` and `countdown` generators, GSM8K and MATH (from the hub or a local copy in
the hub's own schema), and local jsonl / csv / parquet files with a column map, graded in any answer format
(verify/formats/). Rows whose gold answer the format cannot use are skipped and counted by reason, never dropped
silently; when most rows are, the data and the format disagree and loading stops with the column and the
formats that exist.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TaskConfig
from ..verify.answers import gold_is_parseable, normalize
from ..verify.extraction import boxed_answer
from ..verify.formats import NAMES as FORMAT_NAMES
from ..verify.formats import Item
from ..verify.formats import answer_format as format_of

GSM8K_HUB = "openai/gsm8k"
MATH_HUB = "DigitalLearningGmbH/MATH-lighteval"  # the MATH schema: problem, level "Level k", type, solution
EXAMPLES_PER_REASON = 2
FILE_KINDS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_CALC_RE = re.compile(r"<<[^>]*>>")  # GSM8K calculator annotations: 48/2=<<48/2=24>>24


class TaskError(ValueError):
    pass


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str  # gold final answer, as text
    solution: str | None = None  # expert reasoning without the final answer line
    level: int | None = None
    type: str | None = None
    # the row's other columns its answer format reads (options, aliases, numbers and target, a user check's inputs)
    context: dict[str, Any] = field(default_factory=dict, hash=False)

    def verify_context(self) -> dict[str, Any]:
        """What a verifier sees of the row: its question and its other columns."""
        return {"question": self.question, **self.context}


@dataclass(frozen=True)
class FilterStep:
    """One filter of the task config applied to the usable rows: `task.levels: [1, 2]` kept 0 of 6 rows."""

    key: str  # task.levels | task.types | task.max_samples
    value: Any
    before: int
    kept: int
    why: str = ""  # when it removed rows: what the rows have instead ("the rows have no level")
    fix: str = ""  # when it removed every row: what to set
    origin: str = ""  # "base: demo" when the value was inherited, not written in the user's own config

    def describe(self) -> str:
        origin = f" (from {self.origin})" if self.origin else ""
        text = f"{self.key}: {self.value}{origin} kept {self.kept} of {self.before} rows"
        if self.kept < self.before and self.why:
            text += f": {self.why}"
        if self.kept == 0 and self.fix:
            text += f"; {self.fix}"
        return text


@dataclass
class TaskData:
    name: str
    answer_format: str  # the format's spec (verify/formats/): boxed, hash, choice, exact, countdown, program:m:f
    problems: list[Problem]
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first offending rows
    rows: int = 0  # rows read from the source (or generated)
    unknown_level: int = 0  # rows kept although their level is unknown (MATH's "Level ?")
    filtered: int = 0  # usable rows left out by task.levels / task.types / task.max_samples
    filters: list[FilterStep] = field(default_factory=list)  # what each filter kept, in the order applied
    notes: list[str] = field(default_factory=list)  # task keys that do nothing for this task (inherited ones)

    def summary(self) -> str:
        text = f"{self.name}: {len(self.problems)} problems"
        if self.skipped:
            parts = ", ".join(f"{n} {reason} (e.g. {', '.join(self.skipped_examples[reason])})"
                              for reason, n in self.skipped.items())
            text += f"; skipped {sum(self.skipped.values())}: {parts}"
        if self.unknown_level:
            text += f"; {self.unknown_level} with unknown level"
        for step in self.filters:
            if step.kept < step.before:
                text += f"; {step.describe()}"
        for note in self.notes:
            text += f"; {note}"
        return text


def answer_format(cfg: TaskConfig) -> str:
    """The spec of the task's answer format, the string every grader is built from (verify/formats/)."""
    if cfg.answer_format == "program":
        return f"program:{cfg.program}"
    if cfg.answer_format != "auto":
        return cfg.answer_format
    return {"math": "boxed", "local": "boxed", "countdown": "countdown"}.get(cfg.name, "hash")


def load_task(cfg: TaskConfig, split: str | None = None) -> TaskData:
    """Problems of `split` (default cfg.split), filtered by level/type and capped at max_samples."""
    split = split or cfg.split
    if cfg.name in GENERATED:
        data = GENERATED[cfg.name](cfg, split)
    else:
        rows = _read_rows(cfg, split)
        data = TaskData(cfg.name, answer_format(cfg), [], rows=len(rows))
        if cfg.name == "math" and cfg.types is not None and not any("type" in r or "subject" in r for r in rows):
            raise TaskError(
                f"task.types is set ({cfg.types}) but the data has neither a 'type' column (MATH) nor a "
                f"'subject' column (MATH-500 / PRM800K); its columns are {sorted(rows[0])}. Remove task.types "
                f"or use a file that names each problem's subject."
            )
        convert = {"gsm8k": _gsm8k_row, "math": _math_row, "local": _local_row}[cfg.name]
        for i, row in enumerate(rows):
            _add(data, convert(row, i, cfg))
        _check_agreement(data, cfg)
    usable = len(data.problems)
    data.problems = _apply_filters(data, cfg)
    data.filtered = usable - len(data.problems)
    data.unknown_level = sum(p.level is None for p in data.problems) if cfg.name == "math" else 0
    data.notes = _unused_keys(cfg)
    if not data.problems:
        hint = _format_hint(data, cfg) if _refused(data) else ""
        emptied = next((s for s in data.filters if s.kept == 0), None)
        what = (f"{data.rows} rows read, {usable} usable, none left after the filter {emptied.describe()}"
                if emptied is not None else data.summary())
        raise TaskError(f"task {cfg.name!r} split {split!r} has no usable problems. {what}{hint}")
    format_of(data.answer_format).preflight([Item(p.answer, p.answer, p.verify_context(), p.id) for p in data.problems[:16]])
    return data


def _apply_filters(data: TaskData, cfg: TaskConfig) -> list[Problem]:
    """task.levels, task.types, then task.max_samples, each recorded with what it kept (TaskData.filters)."""
    problems = data.problems
    for key, value, attribute in (("task.levels", cfg.levels, "level"), ("task.types", cfg.types, "type")):
        if value is None:
            continue
        kept = [p for p in problems if getattr(p, attribute) in value]
        present = sorted({str(getattr(p, attribute)) for p in problems if getattr(p, attribute) is not None})
        if not present:
            why = f"the rows have no {attribute}"
        else:
            why = f"the rows' {attribute}s are {', '.join(present[:8])}{', ...' if len(present) > 8 else ''}"
        fix = f"set {key}: null to keep every row" + (f", or one of {', '.join(present[:8])}" if present else "")
        data.filters.append(FilterStep(key, value, len(problems), len(kept), why, fix, cfg.origin(key)))
        problems = kept
    if cfg.max_samples is not None:
        data.filters.append(FilterStep("task.max_samples", cfg.max_samples, len(problems),
                                       min(len(problems), cfg.max_samples), "the first ones are kept", "",
                                       cfg.origin("task.max_samples")))
        problems = problems[: cfg.max_samples]
    return problems


GENERATED_ONLY = ("num_problems", "seed")  # read by the embedded generators (arithmetic, countdown) alone


def _unused_keys(cfg: TaskConfig) -> list[str]:
    """Task keys a base config (a recipe) set for its own task that do nothing for this one: said, not hidden."""
    unused = []
    for key in GENERATED_ONLY if cfg.name not in GENERATED else ():
        if cfg.origin(f"task.{key}"):
            unused.append(key)
    if cfg.name not in ("gsm8k", "math") and cfg.hub_id is not None:
        unused.append("hub_id")
    if cfg.name != "local" and cfg.columns:
        unused.append("columns")
    return [f"task.{key} (from {cfg.origin(f'task.{key}') or 'this config'}) is not used by the {cfg.name} task"
            for key in unused]


def _add(data: TaskData, item: Problem | tuple[str, str]) -> None:
    if isinstance(item, tuple):
        reason, row_id = item
        data.skipped[reason] += 1
        examples = data.skipped_examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(row_id)
    else:
        data.problems.append(item)


# ------------------------------------------------------------------------------------ generated tasks


SPLIT_OFFSETS = {"train": 0, "test": 1_000_000, "validation": 2_000_000}  # generated tasks: disjoint indices


def _generated_split(cfg: TaskConfig, split: str) -> int:
    if split not in SPLIT_OFFSETS:
        raise TaskError(f"task.split {split!r}: the {cfg.name} task has splits {', '.join(SPLIT_OFFSETS)}")
    return SPLIT_OFFSETS[split]


def _countdown(cfg: TaskConfig, split: str) -> TaskData:
    from . import countdown

    offset = _generated_split(cfg, split)
    problems = [
        Problem(p.id, countdown.question(p.numbers, p.target), p.expression, p.solution, p.level, "countdown",
                {"numbers": list(p.numbers), "target": p.target})
        for p in countdown.generate_problems(cfg.seed, cfg.levels or [1, 2, 3, 4, 5], cfg.num_problems, offset)
    ]
    return TaskData("countdown", answer_format(cfg), problems, rows=len(problems))


def _arithmetic(cfg: TaskConfig, split: str) -> TaskData:
    from .arithmetic import generate_problems

    offset = _generated_split(cfg, split)
    levels = cfg.levels or [1, 2, 3, 4, 5]
    problems = [
        Problem(p.id, p.question, str(p.answer), p.solution, p.level, "arithmetic")
        for p in generate_problems(cfg.seed, levels, cfg.num_problems, offset=offset)
    ]
    return TaskData("arithmetic", answer_format(cfg), problems, rows=len(problems))


GENERATED = {"arithmetic": _arithmetic, "countdown": _countdown}


# ------------------------------------------------------------------------------------ files and hub


def _read_rows(cfg: TaskConfig, split: str) -> list[dict[str, Any]]:
    if cfg.path:
        return _read_local(Path(cfg.path).expanduser(), split)
    if cfg.name == "local":
        raise TaskError("task.path is required for task.name: local (a .jsonl, .csv or .parquet file)")
    hub_id = cfg.hub_id or (GSM8K_HUB if cfg.name == "gsm8k" else MATH_HUB)
    try:
        from datasets import load_dataset

        ds = load_dataset(hub_id, "main" if hub_id == GSM8K_HUB else "default", split=split)
    except Exception as exc:  # noqa: BLE001 - offline, missing split, renamed repo: all need the same advice
        raise TaskError(
            f"Could not load {hub_id!r} split {split!r} from the hub ({type(exc).__name__}: {exc}). "
            f"Offline? Download it elsewhere and set task.path to the local file or folder "
            f"(.jsonl/.csv/.parquet in the hub's schema)."
        ) from exc
    return list(ds)


def _split_files(path: Path, split: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise TaskError(f"task.path {str(path)!r}: no such file or directory")
    files = sorted(p for p in path.rglob("*") if p.suffix in FILE_KINDS and p.name.startswith(split))
    if not files:
        raise TaskError(
            f"task.path {str(path)!r}: no {split}*.jsonl/.csv/.parquet file in it (looked for split {split!r})"
        )
    return files


def _read_local(path: Path, split: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for file in _split_files(path, split):
        kind = FILE_KINDS.get(file.suffix)
        if kind is None:
            raise TaskError(f"{file}: unsupported file type {file.suffix!r}; use .jsonl, .csv or .parquet")
        try:
            if kind == "parquet":
                import pyarrow.parquet as pq

                rows.extend(pq.read_table(file).to_pylist())
            elif kind == "csv":
                import csv

                with open(file, encoding="utf-8", newline="") as handle:
                    rows.extend(csv.DictReader(handle))
            else:
                import json

                with open(file, encoding="utf-8") as handle:
                    for n, line in enumerate(handle, 1):
                        if line.strip():
                            try:
                                rows.append(json.loads(line))
                            except json.JSONDecodeError as exc:
                                raise TaskError(f"{file}: line {n} is not valid JSON ({exc.msg})") from None
        except UnicodeDecodeError as exc:
            raise TaskError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from None
        except TaskError:
            raise
        except Exception as exc:  # noqa: BLE001 - corrupt parquet, bad csv quoting
            raise TaskError(f"{file}: could not be read as {kind} ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise TaskError(f"{path}: the {split!r} data is empty")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise TaskError(f"{path}: row {bad} is a {type(rows[bad]).__name__}, expected an object with named columns")
    return rows


def _require(row: dict[str, Any], columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise TaskError(f"{where}: missing column(s) {missing}; the data has columns {sorted(row)}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _gsm8k_row(row: dict[str, Any], i: int, cfg: TaskConfig) -> Problem | tuple[str, str]:
    _require(row, ["question", "answer"], "gsm8k (schema of openai/gsm8k)")
    rid = f"gsm8k-{i}"
    answer_field = _text(row["answer"])
    if "####" not in answer_field:
        return ("no '#### answer' in the answer column", rid)
    solution, gold = answer_field.rsplit("####", 1)
    gold = normalize(gold)
    if not gold_is_parseable(gold):
        return ("unparseable gold answer", rid)
    return Problem(rid, _text(row["question"]).strip(), gold, _CALC_RE.sub("", solution).strip(), None, None)


def _level_number(value: Any) -> int | None:
    """MATH writes "Level 3", MATH-500 / PRM800K an integer 3; a few MATH rows say "Level ?" (unknown)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.search(r"\d+", _text(value))
    return int(m.group()) if m else None


def _math_row(row: dict[str, Any], i: int, cfg: TaskConfig) -> Problem | tuple[str, str]:
    """MATH (problem, solution, level "Level k", type) or MATH-500 / PRM800K (the same plus `answer`,
    with `subject` for type and an integer level). A row that carries its final answer is graded on it;
    otherwise the answer is the solution's last box (joined with the boxes right before it when they form
    one multi-valued answer, e.g. `$\\boxed{1}$ and $\\boxed{-2}$`)."""
    _require(row, ["problem", "solution"], "math (MATH schema: problem, solution, level, type)")
    rid = _text(row.get("unique_id")) or f"math-{i}"
    solution = _text(row["solution"])
    given = _text(row.get("answer")).strip()
    if given:
        gold = given
    else:
        boxed = boxed_answer(solution)
        if boxed is None:
            return ("no \\boxed{} answer in the solution", rid)
        gold = boxed[1]
    if not gold_is_parseable(gold):
        return ("unparseable gold answer", rid)
    kind = row.get("type") if row.get("type") is not None else row.get("subject")
    return Problem(rid, _text(row["problem"]).strip(), gold, solution.strip(), _level_number(row.get("level")), kind)


LOCAL_COLUMNS = ("question", "answer", "solution", "level", "type", "id")
CONTEXT_COLUMNS = ("options", "labels", "aliases", "numbers", "target")  # read by the answer formats


def _local_row(row: dict[str, Any], i: int, cfg: TaskConfig) -> Problem | tuple[str, str]:
    columns: dict[str, Any] = {name: name for name in (*LOCAL_COLUMNS, *CONTEXT_COLUMNS)}
    unknown = set(cfg.columns) - set(columns)
    if unknown:
        raise TaskError(f"task.columns: unknown key(s) {sorted(unknown)}; map any of {sorted(columns)} to your columns")
    columns.update(cfg.columns)
    _require(row, [columns["question"], columns["answer"]], f"task.path (task.columns maps question/answer to {columns['question']!r}/{columns['answer']!r})")
    if isinstance(columns["options"], list):
        _require(row, columns["options"], "task.columns.options (one column per option)")
    rid = _text(row.get(columns["id"])) or f"local-{i}"
    try:
        context = _row_context(row, columns)
    except TaskError as exc:
        raise TaskError(f"row {rid} (row {i + 1} of the data): {exc}") from None
    answer = row[columns["answer"]]
    if isinstance(answer, dict) and "value" in answer:  # TriviaQA: answer {value, aliases, normalized_value, ...}
        context.setdefault("aliases", list(answer.get("aliases") or []))
        answer = answer["value"]
    fmt = format_of(answer_format(cfg))
    question = _text(row[columns["question"]])
    gold = fmt.gold_answer(_text(answer), {"question": question, **context})
    if gold is None:
        if fmt.name in ("boxed", "hash"):
            return ("unparseable gold answer", rid)
        return (f"gold answer not usable as {fmt.name}" + fmt.unusable_because(_text(answer), {"question": question, **context}), rid)
    solution = row.get(columns["solution"])
    level = _level_number(row.get(columns["level"])) if columns["level"] in row else None
    return Problem(rid, question.strip(), gold, _text(solution).strip() or None, level, row.get(columns["type"]), context)


def _listed(value: Any, column: str) -> list[Any]:
    """A list column as files write it: a list, a JSON list in a csv cell, or ARC's {"text": [...], "label": [...]};
    an empty cell is an empty list."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise TaskError(f"column {column!r}: {value[:60]!r} is not a JSON list") from None
    if isinstance(value, dict) and "text" in value:
        return list(value["text"])
    if isinstance(value, list | tuple):
        return list(value)
    raise TaskError(f"column {column!r} holds {type(value).__name__} {str(value)[:60]!r}; expected a list "
                    f"(a JSON list in a csv cell, or empty)")


def _row_context(row: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
    """The row's columns beside question/answer/solution/level/type/id, under their format names (options,
    labels, aliases, numbers, target) when mapped; the rest as they are (a `program` check reads them).
    Options given as several columns (a csv's A, B, C, D) become one list, empty trailing cells left out."""
    own = {columns[name] for name in LOCAL_COLUMNS}
    option_columns = columns["options"] if isinstance(columns["options"], list) else None
    named = {columns[name]: name for name in CONTEXT_COLUMNS if name != "options" or option_columns is None}
    context = {named.get(key, key): value for key, value in row.items()
               if key not in own and key not in (option_columns or ())}
    if option_columns is not None:
        options = [_text(row[c]).strip() for c in option_columns]
        while options and not options[-1]:
            options.pop()
        context["options"] = options
    for name in ("options", "labels", "aliases", "numbers"):
        if name in context and context[name] is not None and not (name == "options" and option_columns is not None):
            raw = context[name]
            context[name] = _listed(raw, columns[name])
            if name == "options" and isinstance(raw, dict) and "label" in raw and "labels" not in context:
                context["labels"] = [str(x) for x in raw["label"]]  # ARC: choices {text, label}
    if "options" in context and "labels" not in context:  # AQuA writes options as "A)21", "B)21.5", ...
        split = [re.match(r"^\(?([A-Z])[).]\s*(.*)$", str(o).strip()) for o in context["options"]]
        if split and all(split):
            context["labels"], context["options"] = [m.group(1) for m in split], [m.group(2) for m in split]
    return context


def _refused(data: TaskData) -> int:
    return sum(n for reason, n in data.skipped.items() if reason.startswith(("gold answer not usable", "unparseable gold")))


def _format_hint(data: TaskData, cfg: TaskConfig) -> str:
    """Why the data and the answer format disagree: the column, an example row and the formats there are."""
    column = cfg.columns.get("answer", "answer")
    examples = ", ".join(next((v for r, v in data.skipped_examples.items() if "gold" in r), []))
    return (f" {_refused(data)} of {data.rows} rows have a gold answer (column {column!r}; e.g. rows {examples}) that "
            f"task.answer_format {answer_format(cfg)!r} cannot use: pick the format of your answers - one of "
            f"{', '.join(FORMAT_NAMES)} - or map the right column with task.columns.answer (choice needs labels "
            f"A, B, ... or option indices and reads an options column; countdown reads numbers and target).")


def _check_agreement(data: TaskData, cfg: TaskConfig) -> None:
    """Most rows refused by the format: the data is not in that format. Say which column and which formats exist."""
    if data.problems and data.rows and _refused(data) * 2 > data.rows:
        raise TaskError(f"task {cfg.name!r}: the data and the answer format disagree." + _format_hint(data, cfg))
