"""What every consumer of a verdict asks of an answer format, in one interface.

A task's answer format answers four questions, and everything that grades goes through it: the GRPO reward,
the validity check of each self-explanation, the final line of every training target, DPO's chosen/rejected
split, `expo-lite eval` and `expo-lite data`.

  where       `find(text, context)`: the final answer stated in a completion (where it starts, what it is)
  whether     `judge_many(items)`: does each found answer equal its row's gold answer
  written     `final_line(answer)`: the canonical last line of a training target for an answer
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

Context = Mapping[str, Any]
HASH_LINE_RE = re.compile(r"^#### *(.+)$", re.MULTILINE)  # a `#### X` line, as the non-math formats read it whole


@dataclass(frozen=True)
class Found:
    start: int  # index in the text where the final-answer statement's marker starts
    text: str  # the answer as written


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
