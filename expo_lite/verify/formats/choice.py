"""`choice`: multiple-choice answers (ARC, MMLU, AQuA, CommonsenseQA styles), graded by the option's label.

Where the answer is, as lm-eval-harness's generative multiple-choice tasks and the ARC/MMLU chain-of-thought
prompts read it - the last of these statements in a completion (the first style present wins):

  boxed      `\\boxed{C}`, `\\boxed{(C)}`, `\\boxed{\\text{C}}`
  hash       a `#### C` line
  sentence   "the answer is (C)", "The correct answer is option C", "Answer: C", "the correct option is **C**"
  last line  the completion's last line alone names an option: `**C**`, `(C)`, `C) 42`, `C. 42`

What is read is a label (an uppercase letter, or a digit when the row's labels are digits, as in some ARC
rows), alone or in brackets, bold or not; or, when the options are in the row, an option's text ("The answer
is 42" where option C is 42). A letter that merely appears in the reasoning ("A is too small, so ...", "in
case (B) ...") is not an answer: only the statements above are read.

Row context: `options` (the option texts, in order) and `labels` (default A, B, C, ...). The gold may be a
label, a bracketed label, or a 0-based index into the options (MMLU's hub schema); it is stored as a label.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

from .base import HASH_LINE_RE, AnswerFormat, Context, Found, Item

_BOXED_RE = re.compile(r"\\boxed\s*\{\s*(?:\\text\{)?\s*\(?\s*([^{}()\s]+?)\s*\)?\s*\}?\s*\}")
_SENTENCE_RE = re.compile(
    r"(?:(?:final|correct|right|best)\s+)?(?:answer|option|choice)\s*(?:is|:)\s*(?:option\s+|choice\s+)?(.+)",
    re.IGNORECASE)
_BOLD_RE = re.compile(r"\*\*|__")


def labels_of(context: Context) -> list[str]:
    labels = context.get("labels")
    if labels:
        return [str(x) for x in labels]
    n = len(context.get("options") or []) or 26
    return list(string.ascii_uppercase[:n])


_LISTED_RE = re.compile(r"(?:^|\n)[ \t]*\(?([A-Z])[).:][ \t]+\S|\(([A-Z])\)[ \t]+\S")
_OPTION_COLUMN_RE = re.compile(r"^(?:[A-J]|(?:option|opt|op|choice)[ _]?[a-j1-9])$", re.IGNORECASE)


def listed_labels(question: str) -> list[str]:
    """The labels a question text lists its options under ("(A) 4" / "A) 4" / "A. 4", on their lines or inline
    as "(A) 4 (B) 5"), when they run A, B, C, ... from A; [] when it lists none."""
    found = [a or b for a, b in _LISTED_RE.findall(question)]
    labels: list[str] = []
    for label in found:
        if label == string.ascii_uppercase[len(labels)]:
            labels.append(label)
    return labels if len(labels) >= 2 else []


def offered_labels(context: Context) -> list[str]:
    """The labels a row offers the model to choose from: its options' (options column), else those its question
    lists; [] when it offers none."""
    return labels_of(context) if context.get("options") else listed_labels(str(context.get("question", "")))


def option_like_columns(context: Context) -> list[str]:
    """Columns left unmapped whose names say they hold an option (A, B, C, D; option_a; opa; choice1)."""
    return [str(key) for key in context if _OPTION_COLUMN_RE.match(str(key))]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s.-]", " ", text.lower()).split()).rstrip(".")


class Choice(AnswerFormat):
    name = "choice"
    instruction = ("Think step by step, then finish with the line \"The answer is (X)\", where X is the label of "
                   "the correct option.")
    grading = ("the last of: a \\boxed{X}, a `#### X` line, \"the answer is (X)\" / \"Answer: X\", or a last line "
               "naming one option (`**C**`, `C) 42`); X is an option's label (or its text when the options are "
               "in the row), compared with the gold label. A letter inside the reasoning is not an answer")

    def gold_answer(self, raw: str, context: Context) -> str | None:
        """The gold label, when it names one of the row's options: the options column's, or those the question
        text lists as `(A) ...` / `A) ...` lines. A row with neither shows the model nothing to choose from."""
        labels = offered_labels(context)
        text = raw.strip().strip("()").strip()
        if text in labels:
            return text
        options = context.get("options") or []
        if text.isdigit() and options and text not in labels and int(text) < len(options):
            return labels[int(text)]  # MMLU: the answer column is the 0-based index of the option
        return None

    def unusable_because(self, raw: str, context: Context) -> str:
        labels = offered_labels(context)
        if labels:
            return f": {raw.strip()[:20]!r} is not one of its labels {', '.join(labels)} (nor a 0-based option index)"
        loose = option_like_columns(context)
        fix = (f"the columns {', '.join(loose)} look like options: map them with task.columns.options: "
               f"[{', '.join(loose)}]" if loose else
               "map its options column with task.columns.options (one list column, or several: [A, B, C, D])")
        return f": the row has no options and its question lists none ({fix})"

    def _label(self, clause: str, context: Context) -> str | None:
        """The option a clause names: its leading label (bracketed or bold), or an option's whole text."""
        labels = labels_of(context)
        clause = _BOLD_RE.sub("", clause).strip().lstrip("$").strip()
        alternatives = "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))
        m = re.match(rf"\(?\s*({alternatives})\s*\)?(?=$|[\s).:,;!]|\\)", clause)
        if m:
            return m.group(1)
        options = context.get("options") or []
        wanted = _norm(re.split(r"(?<=[^\d])\.\s|\n", clause, maxsplit=1)[0])
        for label, option in zip(labels, options, strict=False):
            if wanted and wanted == _norm(str(option)):
                return label
        return None

    def find(self, text: str, context: Context) -> Found | None:
        for m in reversed(list(_BOXED_RE.finditer(text))):
            label = self._label(m.group(1), context)
            if label:
                return Found(m.start(), label)
        for m in reversed(list(HASH_LINE_RE.finditer(text))):
            label = self._label(m.group(1), context)
            if label:
                return Found(m.start(), label)
        for m in reversed(list(_SENTENCE_RE.finditer(text))):
            label = self._label(m.group(1).split("\n", 1)[0], context)
            if label:
                return Found(m.start(), label)
        lines = [line for line in text.rstrip().split("\n") if line.strip()]
        if lines:
            label = self._last_line_label(lines[-1], context)
            if label:
                return Found(len(text.rstrip()) - len(lines[-1]), label)
        return None

    def _last_line_label(self, line: str, context: Context) -> str | None:
        """A last line that is nothing but an option: `**C**`, `(C)`, `C.`, or `C) 42` / `C. 42` where 42 is option
        C's text (any text after `C)` when the row has no options). "A is too small" is not one."""
        labels = labels_of(context)
        line = _BOLD_RE.sub("", line).strip()
        alternatives = "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))
        m = re.fullmatch(rf"\(?({alternatives})\)?\.?", line)
        if m:
            return m.group(1)
        m = re.fullmatch(rf"\(?({alternatives})[).]\s+(.+)", line)
        if not m:
            return None
        options = context.get("options") or []
        if not options:
            return m.group(1) if line.lstrip("(")[len(m.group(1))] == ")" else None
        index = labels.index(m.group(1))
        return m.group(1) if index < len(options) and _norm(m.group(2)) == _norm(str(options[index])) else None

    def render_question(self, question: str, context: Context, layout: Mapping[str, str]) -> str:
        """The options under the question, one per line with their labels, as the ARC / MMLU chain-of-thought
        prompts show them ("(A) carbon dioxide"); left out when the question text already holds every option,
        or when prompt.option is empty."""
        options = [str(o) for o in context.get("options") or []]
        if not options or not layout.get("option"):
            return question
        labelled = list(zip(labels_of(context), options, strict=False))
        if all(re.search(rf"\(?{re.escape(label)}[).:]\s*{re.escape(text)}", question) for label, text in labelled):
            return question  # the user's question text already lists them, each with its label
        lines = [layout["option"].format(label=label, text=text) for label, text in labelled]
        return question.rstrip() + "\n\n" + "\n".join(lines)

    def judge_many(self, items: Sequence[Item]) -> list[bool]:
        return [i.answer is not None and i.answer == i.gold for i in items]

    def final_line(self, answer: str) -> str:
        return f"The answer is ({answer})."
