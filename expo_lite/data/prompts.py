"""The two prompts of ExPO, built with the model's chat template.

P(q): the standard prompt, used for rollouts, for evaluation, and as the conditioning of every
training target. P_x(q, a*): the same prompt with the gold answer added, used only to *sample* a
self-explanation. The training target is always P(q) -> explanation, never P_x.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import PromptConfig
from ..verify.formats import answer_format


def final_line(answer: str, fmt: str) -> str:
    """The canonical last line of a training target stating `answer`, in the task's answer format `fmt`."""
    return answer_format(fmt).final_line(answer)


def user_text(question: str, fmt: str, prompts: PromptConfig, answer: str | None = None,
              context: Mapping[str, Any] | None = None) -> str:
    """The user turn of P(q), or of P_x(q, a*) when `answer` is given; the instruction is the format's, and the
    question is shown as the format shows a row (`context`: its other columns, e.g. a multiple-choice row's
    options under the question)."""
    form = answer_format(fmt)
    question = form.render_question(question, context or {}, prompts.layout())
    if answer is None:
        return prompts.template.format(question=question, instruction=form.instruction)
    return prompts.hint_template.format(question=question, instruction=form.instruction, answer=answer)


def chat_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """A one-turn conversation through the tokenizer's chat template, ready for the assistant's reply."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def standard_prompt(tokenizer: Any, question: str, fmt: str, prompts: PromptConfig,
                    context: Mapping[str, Any] | None = None) -> str:
    return chat_prompt(tokenizer, user_text(question, fmt, prompts, context=context), prompts.system)


def hint_prompt(tokenizer: Any, question: str, answer: str, fmt: str, prompts: PromptConfig,
                context: Mapping[str, Any] | None = None) -> str:
    return chat_prompt(tokenizer, user_text(question, fmt, prompts, answer, context), prompts.system)
