"""The self-explanation engine: the current policy writes its own reasoning to the known answer.

For each question we sample `num_tries` completions of P_x(q, a*) and check each one, in this order:

  truncated     no end-of-turn token within max_new_tokens
  no_answer     no final answer can be extracted
  wrong_answer  the final answer does not verify equal to a*
  leak          the text admits it was handed the answer ("the given answer", ...)
  early_answer  the text announces the answer before reasoning to it ("The correct final answer is 16. To
                solve it step by step...", "HINT: ..."): trained on under P(q), it would teach the model to
                state an answer it could not know yet. What counts: a sentence before the first computation
                (a `=`, or digits joined by an operator) that echoes the hint, or that states the right answer
                in the format's way ahead of computations (or, in prose without any, in the first half); a
                number that equals the answer inside a step is not a statement
  no_reasoning  in a format whose reasoning computes (math, GSM8K, countdown: `shows_work`), nothing of the
                problem's mathematics before the final answer: no computation, no number other than a list
                marker, no math ("1. What is the problem? 2. How to solve it yourself. 3. The answer is
                448000."): the answer verifies, but nothing leads to it. Counting in words over the problem's
                quantities is reasoning ("Checking the primes 2, 3, and 5 as potential divisors, we see that
                there are $\\boxed{2}$ prime numbers between 20 and 30", a MATH solution)
  too_short     fewer than min_reasoning_tokens tokens of reasoning before the final answer
  false_equation  (with the derivation test) the reasoning writes plain arithmetic that is false ("Raj has
                74 - 14 = 48 cookies left"): trained on, it teaches false arithmetic whatever the answer
  unreached     the reasoning does not reach its answer (`explain.reach_check`): it computed something else and
                then wrote the hinted answer ("3 * 4 = 12 ... #### 7"), a rationalisation, not an explanation.
                Trained on under P(q) it would teach the model to write a memorised answer after unrelated work,
                the opposite of ExPO's property (2): a positive raises the likelihood of the right answer. Two
                tests: `derivation` (../verify/derivation.py: the answer ends a chain whose step before it is worth
                it, solves the reasoning's equations, or is the result of a computation in the reasoning; formats
                whose reasoning computes) and `answer_gain` (answer_gain.py: the reasoning raises the policy's
                log-probability of the answer; every format, read from the scoring pass below). `auto`:
                derivation where the format computes, answer_gain elsewhere

Finding the answer, comparing it and the leak check are the task's answer format's (verify/formats/). The
reasoning of a try is its text up to the final answer's marker (the `\\boxed`, the `####`, "the answer is"): on
MATH the last computation shares a sentence with the answer ("$625-16=\\boxed{609}$"), and it is part of the
reasoning the checks read and of the target that is trained. The target normalises only the answer's wrapper and
form (`training_target`: the box or `####` line rewritten where it stands to state a*, or the format's final line
added after a statement in words); in a task with several right answers (countdown, a user's own check) it states
the explanation's own verified answer instead of a*.

Among the valid tries we keep the one most likely under the *standard* prompt P(q) (highest mean
token log-prob): that is the sample the policy could most plausibly have produced without the hint,
which is what makes it a good positive. The training target is P(q) -> that text. A question with no valid try carries the
reason of the try that passed the most checks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import ExplainConfig, PromptConfig
from ..core.logprobs import score_completions
from ..core.sampling import Generation, Row, decode
from ..data.prompts import final_line, hint_prompt, standard_prompt
from ..data.tasks import Problem
from ..verify.computed import false_equation
from ..verify.derivation import reach
from ..verify.extraction import sentence_start
from ..verify.formats import Context, Item, answer_format
from .answer_gain import answer_gain, answer_tail_tokens

# in the order checked
REASONS = ("truncated", "no_answer", "wrong_answer", "leak", "early_answer", "no_reasoning", "too_short", "false_equation",
           "unreached")
VALID = "ok"
# One line each, for tables and legends (`expo-lite explain`).
REASON_HELP = {
    "truncated": "no end of turn within explain.max_new_tokens",
    "no_answer": "no final answer found",
    "wrong_answer": "the final answer is not the gold one",
    "leak": "admits it was handed the answer",
    "early_answer": "states the answer before reasoning to it",
    "no_reasoning": "nothing of the problem's mathematics before the answer (math, countdown)",
    "too_short": "fewer than explain.min_reasoning_tokens tokens of reasoning",
    "false_equation": "writes false plain arithmetic (74 - 14 = 48) (explain.reach_check)",
    "unreached": "the reasoning does not reach its answer (explain.reach_check)",
}


@dataclass
class Explanation:
    problem_id: str
    question: str
    gold: str
    level: int | None
    valid: bool
    reason: str  # "ok" or one of REASONS
    text: str | None = None  # the normalised self-explanation (training target), when valid
    prompt_ids: list[int] = field(default_factory=list)  # P(q), chat-templated
    completion_ids: list[int] = field(default_factory=list)  # text + end-of-turn
    mean_logprob: float | None = None  # under P(q)
    answer_gain: float | None = None  # nats the kept try's reasoning adds to log pi(answer | P(q)) (answer_gain.py)
    num_tokens: int = 0
    try_reasons: list[str] = field(default_factory=list)
    try_mean_logprobs: list[float | None] = field(default_factory=list)
    try_texts: list[str] = field(default_factory=list)  # every try as sampled, refused ones too (read why)
    try_answer_gains: list[float | None] = field(default_factory=list)  # of the tries that were scored
    rank: int = 0  # the process that wrote it (under DDP each rank explains only its own questions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_explanation(text: str, truncated: bool, gold: str, cfg: ExplainConfig, tokenizer: Any, fmt: str = "boxed",
                      context: Context | None = None) -> tuple[str, str | None]:
    """(verdict, reasoning part) for one sampled explanation of a row (`context`: its question and other
    columns) in answer format `fmt`; verdict is "ok" or a REASONS entry."""
    if truncated:
        return "truncated", None
    form = answer_format(fmt)
    found = form.find(text, context or {})
    if found is None or not found.text:
        return "no_answer", None
    if not form.judge_many([Item(found.text, gold, context or {})])[0]:
        return "wrong_answer", None
    if form.leaks(text, cfg.leak_phrases):
        return "leak", None
    reasoning = text[: found.start]  # up to the answer's marker: "... = \frac{21\cdot30}{45} = " before \boxed{14}
    if announces_answer(text[: sentence_start(text, found.start)], gold, fmt, context or {}):  # before the final sentence
        return "early_answer", None
    if form.shows_work and not works_with_quantities(reasoning):
        return "no_reasoning", None  # e.g. "1. What is the problem? 2. How to solve it. The answer is 448000."
    if len(tokenizer(reasoning.rstrip(), add_special_tokens=False)["input_ids"]) < cfg.min_reasoning_tokens:
        return "too_short", None
    value = form.reached_value(found.text, gold, context or {})
    if reach_tests(cfg, fmt)[0] and value is not None:
        if false_equation(text, found.start) is not None:
            return "false_equation", None  # "Raj has 74 - 14 = 48 cookies left."
        if not reach(text, found.start, value, found.end if found.end >= 0 else None).reached:
            return "unreached", None  # e.g. "How much Raj has now: 3 * 4 = 12." before "#### 7"
    return VALID, reasoning.rstrip()


def reach_tests(cfg: ExplainConfig, fmt: str) -> tuple[bool, bool]:
    """(derivation, answer_gain): which tests of `explain.reach_check` apply to tries in answer format `fmt`."""
    mode = cfg.reach_check
    if mode == "auto":
        mode = "derivation" if answer_format(fmt).shows_work else "answer_gain"
    return mode in ("derivation", "both"), mode in ("answer_gain", "both")


_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_COMPUTATION_RE = re.compile(r"=|\d\s*[-+*/×÷x]\s*[\d($]|\\(?:frac|times|cdot|div)\b")
_LIST_MARKER_RE = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):]|\bstep\s*\d+", re.IGNORECASE | re.MULTILINE)
_QUANTITY_RE = re.compile(r"\d|\$[^$\s]")


def works_with_quantities(reasoning: str) -> bool:
    """The reasoning computes (`=`, an operator between numbers, `\\frac`) or works with the problem's quantities: a
    number that is not a list marker, or math ("Checking the primes 2, 3, and 5 as potential divisors, we see that
    there are $\\boxed{2}$", "the triangles with a part shaded are $AEC$, $BEC$ and $BDC$"). Word salad that
    numbers its steps and names nothing ("1. What is the problem? 2. How to solve it.") does neither."""
    return bool(_COMPUTATION_RE.search(reasoning) or _QUANTITY_RE.search(_LIST_MARKER_RE.sub(" ", reasoning)))
_HINT_ECHO_RE = re.compile(r"^\W*hint\b|correct (?:final )?answer is", re.IGNORECASE)


def announces_answer(before_final: str, gold: str, fmt: str, context: Context) -> bool:
    """True when the text before the final answer statement announces the answer ahead of its reasoning: a
    sentence echoes the hint's wording, or states the right answer (as the format finds answers) with no
    computation before it and either computations after it (math: it was stated before being worked out) or,
    in prose without computations, in the first half of the reasoning."""
    form = answer_format(fmt)
    offset = 0
    for sentence in _SENTENCE_RE.split(before_final):
        offset = before_final.find(sentence, offset)
        computation, echo = _COMPUTATION_RE.search(sentence), _HINT_ECHO_RE.search(sentence)
        if echo and (computation is None or echo.start() < computation.start()):
            return True
        stated = form.find(sentence, context)
        if stated is not None and stated.text and not _COMPUTATION_RE.search(sentence[: stated.start]):
            worked_out_later = bool(_COMPUTATION_RE.search(before_final[offset + stated.start :]))
            if (worked_out_later or offset < len(before_final) / 2) and form.judge_many([Item(stated.text, gold, context)])[0]:
                return True
        if computation:
            return False  # reasoning has begun: later statements are conclusions, not announcements
    return False


def training_target(text: str, answer: str, fmt: str, context: Context | None = None) -> str:
    """A verified try or an expert solution as the training target, stating `answer` in format `fmt` (the format's
    `target`: the answer's wrapper and form normalised where the text states it, the step that computes it kept)."""
    return answer_format(fmt).target(text, answer, context or {})


def completion_ids_for(tokenizer: Any, text: str) -> list[int]:
    """Tokens of an assistant turn `text`, ending with the end-of-turn token the model must learn to emit."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def explanation_rows(tokenizer: Any, problems: list[Problem], fmt: str, cfg: ExplainConfig,
                     prompts: PromptConfig) -> list[Row]:
    """The rows that sample self-explanations: `num_tries` per question of P_x(q, a*), question by question."""
    rows = []
    for p in problems:
        ids = tuple(tokenizer(hint_prompt(tokenizer, p.question, p.answer, fmt, prompts, p.context), add_special_tokens=False)["input_ids"])
        rows += [Row(ids, cfg.temperature, cfg.max_new_tokens, cfg.top_k)] * cfg.num_tries
    return rows


def group_tries(samples: list[Generation], num_tries: int) -> list[list[Generation]]:
    return [samples[i : i + num_tries] for i in range(0, len(samples), num_tries)]


def explain(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, cfg: ExplainConfig,
            prompts: PromptConfig, progress: Any = None) -> list[Explanation]:
    """Self-explanations for `problems` from the current policy (see module docstring): every try of every
    question in one batched decode (up to sampling.MAX_ROWS rows at a time), then the checks."""
    samples = decode(model, tokenizer, explanation_rows(tokenizer, problems, fmt, cfg, prompts), top_p=cfg.top_p)
    records = judge(model, tokenizer, problems, group_tries(samples, cfg.num_tries), fmt, cfg, prompts)
    if progress is not None:
        progress(len(problems))
    return records


@dataclass(frozen=True)
class _Candidate:
    """A try that passed the text checks, waiting for the scoring pass."""

    record: int
    attempt: int
    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    stated: str  # the answer its final line states
    tail: int | None  # tokens of the answer and the rest of its line (answer_gain.py)


def judge(model: Any, tokenizer: Any, problems: list[Problem], samples: list[list[Generation]], fmt: str,
          cfg: ExplainConfig, prompts: PromptConfig) -> list[Explanation]:
    """Check every sampled try; score the ones that pass under P(q) (with each question's answer line alone, for
    the answer gain), refuse those whose reasoning does not raise the answer's likelihood when that test is on,
    and keep the most likely of the rest per question."""
    form = answer_format(fmt)
    records, candidates = [], []
    for i, (problem, tries) in enumerate(zip(problems, samples, strict=True)):
        p_ids = tokenizer(standard_prompt(tokenizer, problem.question, fmt, prompts, problem.context), add_special_tokens=False)["input_ids"]
        rec = Explanation(problem.id, problem.question, problem.answer, problem.level, False, "", prompt_ids=p_ids)
        context = problem.verify_context()
        for j, gen in enumerate(tries):
            verdict, reasoning = check_explanation(gen.text, gen.truncated, problem.answer, cfg, tokenizer, fmt, context)
            rec.try_reasons.append(verdict)
            rec.try_mean_logprobs.append(None)
            rec.try_answer_gains.append(None)
            rec.try_texts.append(gen.text)
            if verdict == VALID:
                stated = form.target_answer(form.found_answer(gen.text, context) or "", problem.answer)
                text = training_target(gen.text, stated, fmt, context)
                candidates.append(_Candidate(i, j, p_ids, completion_ids_for(tokenizer, text), text, stated,
                                             answer_tail_tokens(tokenizer, text, stated)))
        records.append(rec)
    if candidates:
        _score_and_keep(model, tokenizer, records, candidates, fmt, reach_tests(cfg, fmt)[1], cfg.min_answer_gain)
    for rec in records:
        rec.reason = VALID if rec.valid else _furthest(rec.try_reasons)
    return records


def _score_and_keep(model: Any, tokenizer: Any, records: list[Explanation], candidates: list[_Candidate], fmt: str,
                    gain_test: bool, min_gain: float) -> None:
    """One scoring pass: every candidate under P(q), and per question the answer alone, written as each target
    writes it from the answer on (`answer_alone`)."""
    rows = [(c.prompt_ids, c.completion_ids, c.tail) for c in candidates]
    lines = [answer_alone(c.text, c.stated, fmt) for c in candidates]
    alone: dict[tuple[int, str], int] = {}  # (record, the answer alone) -> its row
    for c, line in zip(candidates, lines, strict=True):
        if (c.record, line) not in alone:
            alone[(c.record, line)] = len(rows)
            rows.append((c.prompt_ids, completion_ids_for(tokenizer, line), answer_tail_tokens(tokenizer, line, c.stated)))
    scores = score_completions(model, [r[0] for r in rows], [r[1] for r in rows], tokenizer.pad_token_id,
                               tail_tokens=[r[2] or 0 for r in rows])
    for c, line, score in zip(candidates, lines, scores[: len(candidates)], strict=True):
        rec, baseline_row = records[c.record], alone[(c.record, line)]
        gain = answer_gain(score.tail_logprob if c.tail else None,
                           scores[baseline_row].tail_logprob if rows[baseline_row][2] else None)
        rec.try_mean_logprobs[c.attempt], rec.try_answer_gains[c.attempt] = score.mean_logprob, gain
        if gain_test and gain is not None and gain <= min_gain:
            rec.try_reasons[c.attempt] = "unreached"  # the reasoning does not make its answer likelier
            continue
        if rec.mean_logprob is None or score.mean_logprob > rec.mean_logprob:
            rec.valid, rec.text, rec.completion_ids = True, c.text, c.completion_ids
            rec.mean_logprob, rec.num_tokens, rec.answer_gain = score.mean_logprob, len(c.completion_ids), gain


def answer_alone(target: str, stated: str, fmt: str) -> str:
    """The answer as the whole reply, ending as the target ends: the format's final line up to the answer, then the
    target's own text from the answer on ("The final answer is $\\boxed{" + "14}.\\n\\end{align*}"), so the answer
    gain compares the same tokens with and without the reasoning."""
    line, at = final_line(stated, fmt), target.rfind(stated)
    return line if at < 0 or not stated else line[: line.rfind(stated)] + target[at:]


def _furthest(reasons: list[str]) -> str:
    """The failure reason of the try that passed the most checks."""
    return max(reasons, key=REASONS.index)
