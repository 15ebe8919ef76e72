"""What every consumer of a verdict asks of an answer format, in one interface.

A task's answer format answers four questions, and everything that grades goes through it: the GRPO reward,
the validity check of each self-explanation, the final line of every training target, DPO's chosen/rejected
split, `expo-lite eval` and `expo-lite data`.

  where       `find(text, context)`: the final answer stated in a completion (where it starts, what it is)
  whether     `judge_many(items)`: does each found answer equal its row's gold answer
  written     `final_line(answer)`: the canonical last line of a training target for an answer, and
              `target(text, answer, context)`: a verified text as a training target (its answer statement normalised)
  leaking     `leaks(text, phrases)`: does an explanation admit it was handed the answer

A format sees the row, not only two strings: `context` holds the row's other columns (a multiple-choice
row's options, a trivia row's aliases, a countdown row's numbers and target, anything a user's own check
reads). Formats with several correct answers (`several_answers`) keep a verified explanation's own answer in
its training target instead of replacing it with the gold one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..derivation import announces_only
from ..equations import segment_at
from ..extraction import sentence_start

Context = Mapping[str, Any]
HASH_LINE_RE = re.compile(r"^#### *(.+)$", re.MULTILINE)  # a `#### X` line, as the non-math formats read it whole


def statement_end(text: str, start: int, end: int) -> int:
    """Where the sentence stating an answer (from `start`, the answer written up to `end`) ends: past the math that
    holds it (`$`, `\\]`, `\\end{align*}`); after inline math, on to the end of the sentence ("$\\boxed{609}$
    words.") when that comes within a line of prose; else right after the punctuation that follows."""
    end = len(text) if end < 0 else end
    seg = segment_at(text, max(end - 1, start))
    if seg is not None:
        end = max(end, seg.after)
    rest = _SENTENCE_REST_RE.match(text, end)
    if (seg is None or seg.inline) and rest and segment_at(text, rest.end() - 1) is None:
        return rest.end()  # a display (`\\[ ... \\]`, `align*`) ends its sentence
    punctuation = re.match(r"[ \t]*[.,;:!?]?", text[end:])
    return end + (punctuation.end() if punctuation else 0)


_SENTENCE_REST_RE = re.compile(r"[^\n$\\]{0,160}?[.!?](?=\s|$)")  # the rest of the answer's sentence, in prose


@dataclass(frozen=True)
class Found:
    start: int  # index in the text where the final-answer statement's marker starts
    text: str  # the answer as written
    end: int = -1  # index just past the answer as written (-1: the format does not say)
    style: str = ""  # how it is stated: "boxed", "hash", "final_answer", "answer_is" (the math formats say)


@dataclass(frozen=True)
class Item:
    """One verdict to give: the answer found in a completion (None: none was), the row's gold and context."""

    answer: str | None
    gold: str
    context: Context = field(default_factory=dict)
    row_id: str = ""


class AnswerFormat:
    """The interface (see the module docstring). Subclasses set `name`, `instruction`, `grading` and implement
    `find`, `judge_many` and `final_line`; `gold_answer` says at load time whether a row's gold is usable."""

    name: ClassVar[str] = ""
    instruction: ClassVar[str] = ""  # what P(q) asks the model to do and how to state the answer
    grading: ClassVar[str] = ""  # one sentence for `expo-lite data` and the README
    several_answers: ClassVar[bool] = False  # True: a target keeps the verified answer of its own reasoning
    # True: reasoning toward this format's answer computes something (`=`, an operator between numbers, \frac),
    # so an explanation without one is refused as no_reasoning; prose formats (choice, exact) reason in words
    shows_work: ClassVar[bool] = False
    # The style `find` reports for an answer stated the format's own way ("boxed", "hash"): such a statement is
    # normalised where it stands (`in_place`), so the step that computes the answer stays in the target
    own_style: ClassVar[str] = ""

    def gold_answer(self, raw: str, context: Context) -> str | None:
        """The gold answer as it will be compared, or None when the row cannot be graded (skipped, counted)."""
        gold = raw.strip()
        return gold or None

    def unusable_because(self, raw: str, context: Context) -> str:
        """Why `gold_answer` refused a row, as a clause for the skip reason (": E is not one of the labels A-D"),
        or "" when the format has nothing to add."""
        return ""

    def preflight(self, golds: Sequence[Item]) -> None:
        """Raise ValueError when the format cannot grade this task at all, before anything loads (`golds`: the
        first rows' gold answers judged against themselves). The built-in formats always can; a user's check
        may not import (program.py)."""

    def find(self, text: str, context: Context) -> Found | None:
        raise NotImplementedError

    def judge_many(self, items: Sequence[Item]) -> list[bool]:
        raise NotImplementedError

    def final_line(self, answer: str) -> str:
        raise NotImplementedError

    def in_place(self, answer: str) -> str:
        """The answer written the format's own way inside a sentence (`\\boxed{a}`), for formats with an `own_style`."""
        raise NotImplementedError

    def keeps_written(self, written: str) -> bool:
        """An answer statement that already states the target's answer is kept as written (`$x = \\boxed{1}$ and
        $x = \\boxed{-2}$` reads as `1, -2`), unless the format wants its own spelling of the whole statement."""
        return True

    def target(self, text: str, answer: str, context: Context) -> str:
        """A verified text (a self-explanation, an expert solution) as the training target P(q) -> text, stating
        `answer`. Only what must be is normalised, the answer's wrapper and form: in a format with an own style, an
        answer stated that way is rewritten where it stands and its sentence kept ("$625-16=\\boxed{609}$." stays,
        the step that computes it included); a sentence that only announces it another way ("The answer is 609.")
        is a wrapper too, replaced by the format's final line; a sentence that does a step before stating it ("so
        625 - 16 gives 609.") is kept and the final line follows it; a text with no answer gains the final line. Prose formats keep the text
        before the answer's sentence and end with the final line. Whatever follows the answer's sentence (a check,
        a second answer, chatter) is dropped: the target ends where the answer is stated."""
        found = self.find(text, context)
        if found is None or not found.text:
            return self._then_final_line(text, answer)
        if self.own_style and found.style == self.own_style:
            written = text[found.start : found.end]
            body = written if found.text == answer and self.keeps_written(written) else self.in_place(answer)
            return (text[: found.start] + body + text[found.end : statement_end(text, found.start, found.end)]).rstrip()
        if not self.own_style or announces_only(text, found.start):  # "The answer is 7." is a wrapper of its own
            return self._then_final_line(text[: sentence_start(text, found.start)], answer)
        return self._then_final_line(text[: statement_end(text, found.start, found.end)], answer)

    def _then_final_line(self, before: str, answer: str) -> str:
        before = before.rstrip()
        return f"{before}\n{self.final_line(answer)}" if before else self.final_line(answer)

    def render_question(self, question: str, context: Context, layout: Mapping[str, str]) -> str:
        """The question as P(q) and P_x show it: what the model must see of the row besides its question text (a
        multiple-choice row's options, a countdown row's numbers). `layout` holds prompt.option / prompt.numbers."""
        return question

    def reached_value(self, found: str, gold: str, context: Context) -> str | None:
        """What reasoning toward the verified answer `found` (of a row with gold answer `gold`) must compute to
        reach it (the `derivation` test, ../derivation.py), or None in formats whose reasoning does not compute
        (prose: choice, exact)."""
        return None

    def leaks(self, text: str, phrases: Sequence[str]) -> bool:
        """The explanation says it was given the answer. Phrases, not the answer itself: a gold answer such as a
        single letter or a small number appears in honest reasoning all the time."""
        lowered = text.lower()  # whole words: "as given" is not in "Mara was given three times as many"
        return any(re.search(rf"(?<!\w){re.escape(p.lower())}(?!\w)", lowered) for p in phrases if p.strip())

    # ---- built on the above

    def found_answer(self, text: str, context: Context) -> str | None:
        found = self.find(text, context)
        return found.text if found is not None and found.text else None

    def are_correct(self, completions: Sequence[str], golds: Sequence[str], contexts: Sequence[Context],
                    row_ids: Sequence[str] | None = None) -> list[bool]:
        """One verdict per completion against its row (a batch: one trip to a sandbox where there is one)."""
        ids = row_ids or [""] * len(golds)
        items = [Item(self.found_answer(c, ctx), g, ctx, rid)
                 for c, g, ctx, rid in zip(completions, golds, contexts, ids, strict=True)]
        return self.judge_many(items)

    def target_answer(self, found: str, gold: str) -> str:
        """The answer a training target's final line states: the gold one, or the explanation's own verified
        answer for tasks with several correct answers."""
        return found if self.several_answers else gold
