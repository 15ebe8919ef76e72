"""Which self-explanations reach their answer: the reach check (`explain.reach_check`) measured on real text of every
task the recipes train, GSM8K's and MATH's.

    .venv/bin/python benchmarks/positive_checks.py --no-model          # the derivation test on every set (~3 min)
    .venv/bin/python benchmarks/positive_checks.py                     # + the answer gain, embedded model (~25 min)
    .venv/bin/python benchmarks/positive_checks.py --gsm8k benchmarks/data/gsm8k-train   # every GSM8K training row
    .venv/bin/python benchmarks/positive_checks.py --no-model --show 5 # and print tries of each outcome, to read
    python benchmarks/positive_checks.py --config qwen2.5-3b           # on a GPU: the answer gain of the 3B policy

Every try is judged exactly as training judges a self-explanation (algorithms/explain.py: every check in order; with
the model, the scoring pass under P(q) that gives the answer gain). The sets:

  gsm8k human     GSM8K's human-written training solutions (as the task loader reads them: calculator annotations
                  removed), each as a try of its own question with its own `#### N` line: must be kept
  gsm8k swapped   the same solutions ending in the answer of another question that their reasoning never mentions,
                  judged against that answer (as if it had been the hint): must be refused
  math human      MATH's human-written training solutions (benchmarks/data/math: four subjects, all levels), each
                  a try of its own question in the boxed format, judged against the row's `answer`: must be kept
  math swapped    the same solutions with the final box holding the answer of another problem of the same subject
                  that the solution never mentions: must be refused. Split by how the original states its answer:
                  `chain` (the box ends an `=` chain, "= \\frac{21\\cdot30}{45} = \\boxed{14}", ~70% of MATH) and
                  `words` ("Therefore, the graph has $\\boxed{2}$ asymptotes"), where a text check often cannot tell
  labelled        the embedded model's own tries (tests/data/positives/labelled_tries.jsonl), labelled by reading
                  them: `derivation` must be kept, `rationalisation` refused (precision and recall of the refusal)

The derivation test's table gives, per set and MATH level, how many tries it keeps, why it refuses the others, and
the time one check takes (median and max, sympy's sandbox included: a cold sandbox child is started first). With
the model, the answer gain's table and its distribution per set follow (the threshold is explain.min_answer_gain).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LABELLED = REPO / "tests" / "data" / "positives" / "labelled_tries.jsonl"
GSM8K_COPY = REPO / "benchmarks" / "data" / "gsm8k"
MATH_COPY = REPO / "benchmarks" / "data" / "math"
TESTS = ("derivation", "answer_gain")
_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")
REFUSALS = ("unreached", "false_equation")  # what the reach check refuses as; anything else is another check's


# ------------------------------------------------------------------------------------ the sets


def gsm8k_problems(path: Path = GSM8K_COPY, limit: int | None = None) -> list[Any]:
    """GSM8K's training rows as training reads them (Problem: question, gold, human solution)."""
    from expo_lite.config import TaskConfig
    from expo_lite.data.tasks import load_task

    problems = load_task(TaskConfig(name="gsm8k", path=str(path)), "train").problems
    return problems[:limit] if limit else problems


def math_problems(path: Path = MATH_COPY, limit: int | None = None) -> list[Any]:
    """MATH's training rows as training reads them (gold: the row's `answer`; solution: the human one, box included)."""
    from expo_lite.config import TaskConfig
    from expo_lite.data.tasks import load_task

    problems = load_task(TaskConfig(name="math", path=str(path)), "train").problems
    return problems[:limit] if limit else problems


def human_set(problems: list[Any]) -> list[tuple[Any, str]]:
    """Each GSM8K human solution as a try of its own question, ending in its `#### N` line."""
    return [(p, f"{p.solution}\n#### {p.answer}") for p in problems if p.solution]


def _mentions(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER_RE.findall(text)}


def swapped_set(problems: list[Any]) -> list[tuple[Any, str]]:
    """Each GSM8K human solution ending in the answer of the next question (in order, wrapping) whose answer its
    reasoning never mentions; the problem's gold becomes that answer, so the try verifies and only a test of
    whether the reasoning reaches its answer can refuse it."""
    out = []
    for i, p in enumerate(problems):
        if not p.solution:
            continue
        mentioned = _mentions(p.solution) | {p.answer.replace(",", "")}
        for k in range(1, len(problems)):
            other = problems[(i + k) % len(problems)].answer
            if other.replace(",", "") not in mentioned:
                out.append((replace(p, answer=other), f"{p.solution}\n#### {other}"))
                break
    return out


def math_human_set(problems: list[Any]) -> list[tuple[Any, str]]:
    """Each MATH human solution, as written, as a try of its own question."""
    return [(p, p.solution) for p in problems if p.solution]


def math_swapped_set(problems: list[Any]) -> list[tuple[Any, str]]:
    """Each MATH human solution with its final answer statement (the last box, or the boxes that form one answer)
    holding the answer of the next problem of the same subject (in order, wrapping) that differs from its own and
    that the solution never mentions (no number of it, no spelling of it); the gold becomes that answer."""
    from expo_lite.verify.answers import _canonical
    from expo_lite.verify.extraction import find_final_answer

    out = []
    for i, p in enumerate(problems):
        found = find_final_answer(p.solution or "")
        if found is None or found.style != "boxed":
            continue
        reasoning = p.solution[: found.start]
        mentioned, spelled = _mentions(reasoning) | _mentions(p.answer), _canonical(reasoning)
        for k in range(1, len(problems)):
            other = problems[(i + k) % len(problems)]
            answer = other.answer
            numbers = _mentions(answer)
            if other.type != p.type or _canonical(answer) == _canonical(p.answer) or _canonical(answer) in spelled:
                continue
            if numbers & mentioned or (not numbers and _canonical(answer) in _canonical(p.solution)):
                continue
            text = f"{p.solution[: found.start]}\\boxed{{{answer}}}{p.solution[found.end :]}"
            out.append((replace(p, answer=answer), text))
            break
    return out


def statement_kind(text: str) -> str:
    """How a text states its final answer: "chain" (the last member of an `=` chain) or "words"."""
    from expo_lite.verify.derivation import final_chain
    from expo_lite.verify.extraction import find_final_answer

    found = find_final_answer(text)
    return "chain" if found is not None and final_chain(text, found.start) else "words"


def labelled_set(path: Path = LABELLED) -> list[tuple[Any, str, str]]:
    """(problem, try text, label) of the embedded model's labelled tries; a derivation whose last step is not
    written (`written: false`) is labelled `derivation (unwritten)`."""
    from expo_lite.data.tasks import Problem

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(Problem(r["problem_id"], r["question"], r["gold"], None, r.get("level")), r["text"],
             r["label"] + ("" if r.get("written", True) else " (unwritten)")) for r in rows]


# ------------------------------------------------------------------------------------ judging


def derivation_verdicts(tries: list[tuple[Any, str]], fmt: str, tokenizer: Any = None) -> list[tuple[str, float]]:
    """(verdict, seconds) of each try under the derivation test, judged alone (no model: the text checks only)."""
    from expo_lite.algorithms.explain import check_explanation
    from expo_lite.config import ExplainConfig
    from expo_lite.testing import build_tokenizer

    tok, cfg = tokenizer or build_tokenizer(), ExplainConfig(reach_check="derivation")
    out = []
    for p, text in tries:
        start = time.perf_counter()
        verdict = check_explanation(text, False, p.answer, cfg, tok, fmt, p.verify_context())[0]
        out.append((verdict, time.perf_counter() - start))
    return out


def judge_each(model: Any, tokenizer: Any, tries: list[tuple[Any, str]], reach_check: str,
               fmt: str = "hash", batch: int = 32) -> list[tuple[str, float | None]]:
    """(verdict, answer gain) of each try, judged alone as a one-try question under `reach_check`."""
    from expo_lite.algorithms.explain import judge
    from expo_lite.config import ExplainConfig, PromptConfig
    from expo_lite.core.sampling import Generation

    cfg = ExplainConfig(num_tries=1, reach_check=reach_check)
    out: list[tuple[str, float | None]] = []
    for start in range(0, len(tries), batch):
        chunk = tries[start : start + batch]
        records = judge(model, tokenizer, [p for p, _ in chunk], [[Generation([], [], text, False)] for _, text in chunk],
                        fmt, cfg, PromptConfig())
        out += [(r.try_reasons[0], r.try_answer_gains[0]) for r in records]
    return out


def rates(verdicts: list[str], labels: list[str] | None = None) -> dict[str, Any]:
    """Kept count, refusals by reason; with labels, the confusion of the reach check's refusals against
    `rationalisation`."""
    kept = sum(v == "ok" for v in verdicts)
    refused = sum(v in REFUSALS for v in verdicts)
    out: dict[str, Any] = {"tries": len(verdicts), "kept": kept, "refused_reach": refused,
                           "refused_other": len(verdicts) - kept - refused, "reasons": Counter(verdicts)}
    if labels is not None:
        flagged = [v in REFUSALS for v in verdicts]
        truth = [label == "rationalisation" for label in labels]
        tp = sum(f and t for f, t in zip(flagged, truth, strict=True))
        out.update(rationalisations=sum(truth), derivations=len(truth) - sum(truth),
                   unwritten_kept=sum(v == "ok" for v, label in zip(verdicts, labels, strict=True) if "unwritten" in label),
                   unwritten=sum("unwritten" in label for label in labels), true_refusals=tp,
                   wrong_refusals=sum(f and not t for f, t in zip(flagged, truth, strict=True)),
                   precision=tp / max(sum(flagged), 1), recall=tp / max(sum(truth), 1))
    return out


def _gain_spread(results: list[tuple[str, float | None]], labels: list[str] | None = None) -> str:
    def line(values: list[float]) -> str:
        if not values:
            return "none scored"
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        return f"n={len(values)} min {min(values):+.2f} q1 {q[0]:+.2f} median {q[1]:+.2f} q3 {q[2]:+.2f} max {max(values):+.2f}"

    if labels is None:
        return line([g for _, g in results if g is not None])
    return "; ".join(f"{kind}: " + line([g for (_, g), lab in zip(results, labels, strict=True) if lab == kind and g is not None])
                     for kind in ("derivation", "derivation (unwritten)", "rationalisation"))


# ------------------------------------------------------------------------------------ the report


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.1%})" if whole else "-"


def math_table(human: list[tuple[Any, str]], human_v: list[str], swapped: list[tuple[Any, str]],
               swapped_v: list[str]) -> str:
    """MATH per level: human kept; swapped refused, split by how the original states its answer."""
    levels = sorted({p.level for p, _ in human}, key=lambda x: (x is None, x))
    kinds = [statement_kind(p.solution) for p, _ in swapped]
    lines = ["| MATH level | human solutions kept | swapped refused: answer ends an `=` chain | swapped refused: "
             "answer stated in words | swapped refused: all |", "|---|---|---|---|---|"]
    for level in [*levels, "all"]:
        def of(rows, verdicts, kind=None, _level=level):
            picked = [v for (p, _), v, k in zip(rows, verdicts, kinds if rows is swapped else [None] * len(rows), strict=True)
                      if (_level == "all" or p.level == _level) and (kind is None or k == kind)]
            return picked
        h = of(human, human_v)
        cells = [_pct(sum(v == "ok" for v in h), len(h))]
        for kind in ("chain", "words", None):
            s = of(swapped, swapped_v, kind)
            cells.append(_pct(sum(v != "ok" for v in s), len(s)))
        lines.append(f"| {'?' if level is None else level} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _show(name: str, tries: list[tuple[Any, str]], verdicts: list[str], wanted: str, count: int) -> None:
    picked = [(p, t, v) for (p, t), v in zip(tries, verdicts, strict=True) if (v == "ok") == (wanted == "kept")][:count]
    for p, text, v in picked:
        print(f"\n--- {name}, {wanted} ({v}), {p.id}, gold {p.answer!r}:\n{text[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gsm8k", type=Path, default=GSM8K_COPY, help="a GSM8K folder/file in the hub's schema")
    parser.add_argument("--math", type=Path, default=MATH_COPY, help="a MATH folder/file in the hub's schema")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows of each")
    parser.add_argument("--no-model", action="store_true", help="the derivation test alone (no scoring pass)")
    parser.add_argument("--gain-math", type=int, default=200,
                        help="with the model: the answer gain on the first N MATH human tries stated in words and "
                             "their swapped ones (the long MATH texts make every try costly on a CPU)")
    parser.add_argument("--show", type=int, default=0, help="print N tries of each outcome of each set, to read")
    parser.add_argument("--config", default=None,
                        help="with the model: the recipe whose model is the policy (qwen2.5-3b on a GPU: what the answer "
                             "gain of a 3B policy is on these sets); default: the embedded SmolLM2-135M on the CPU")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override, as expo-lite's --set (repeatable)")
    args = parser.parse_args()

    import torch

    from expo_lite.verify.sympy_sandbox import SANDBOX

    torch.manual_seed(0)
    SANDBOX.match("1", "1")  # start the sympy child before any check is timed
    gsm8k, math = gsm8k_problems(args.gsm8k, args.limit), math_problems(args.math, args.limit)
    sets = {"gsm8k human": (human_set(gsm8k), "hash"), "gsm8k swapped": (swapped_set(gsm8k), "hash"),
            "math human": (math_human_set(math), "boxed"), "math swapped": (math_swapped_set(math), "boxed")}
    labelled = labelled_set()
    by_source: dict[str, list[tuple[Any, str, str]]] = {}
    for p, text, label in labelled:
        by_source.setdefault("labelled " + ("arithmetic" if p.id.startswith("arith") else "gsm8k"), []).append((p, text, label))
    print(f"GSM8K rows: {len(gsm8k)} ({args.gsm8k.name}); MATH rows: {len(math)} ({args.math.name}); labelled tries: "
          f"{len(labelled)}\n")
    start = time.perf_counter()
    verdicts: dict[str, list[str]] = {}
    seconds: list[float] = []
    for name, (tries, fmt) in sets.items():
        judged = derivation_verdicts(tries, fmt)
        verdicts[name] = [v for v, _ in judged]
        seconds += [s for _, s in judged]
    for name, rows in by_source.items():
        verdicts[name] = [v for v, _ in derivation_verdicts([(p, t) for p, t, _ in rows], "hash")]

    print("## The derivation test (the default where reasoning computes)\n")
    print("| set | tries | kept | refused by the reach check (unreached, false_equation) | refused by other checks | "
          "precision | recall |")
    print("|---|---|---|---|---|---|---|")
    for name, v in verdicts.items():
        labels = [lab for *_, lab in by_source[name]] if name in by_source else None
        r = rates(v, labels)
        pr = (f"{r['precision']:.2f} ({r['true_refusals']}/{r['true_refusals'] + r['wrong_refusals']}) | "
              f"{r['recall']:.2f} ({r['true_refusals']}/{r['rationalisations']})") if labels else "- | -"
        reach = ", ".join(f"{k} {r['reasons'][k]}" for k in REFUSALS if r["reasons"][k])
        other = ", ".join(f"{k} {n}" for k, n in r["reasons"].most_common() if k != "ok" and k not in REFUSALS)
        print(f"| {name} | {r['tries']} | {_pct(r['kept'], r['tries'])} | {r['refused_reach']} ({reach or '-'}) | "
              f"{r['refused_other']} ({other or '-'}) | {pr} |")
    print()
    print(math_table(sets["math human"][0], verdicts["math human"], sets["math swapped"][0], verdicts["math swapped"]))
    ordered = sorted(seconds)
    print(f"\nTime per check (GSM8K and MATH tries, {len(ordered)}): median {statistics.median(ordered) * 1000:.1f} ms, "
          f"max {ordered[-1] * 1000:.0f} ms; sandbox children killed for a missed deadline: {SANDBOX.kills}")
    if args.show:
        for name, (tries, _) in sets.items():
            for wanted in ("kept", "refused"):
                _show(name, tries, verdicts[name], wanted, args.show)

    if not args.no_model:
        from expo_lite.config import load_config
        from expo_lite.models.loader import load_model

        cfg = load_config(args.config, args.overrides if args.config else ["model.backend=hf", *args.overrides])
        model, tok = load_model(cfg)
        words = [i for i, (p, _) in enumerate(sets["math human"][0]) if statement_kind(p.solution) == "words"][: args.gain_math]
        swapped_ids = {p.id: k for k, (p, _) in enumerate(sets["math swapped"][0])}
        gain_sets = {
            "gsm8k human": sets["gsm8k human"], "gsm8k swapped": sets["gsm8k swapped"],
            "math human, stated in words": ([sets["math human"][0][i] for i in words], "boxed"),
            "math swapped, stated in words": ([sets["math swapped"][0][swapped_ids[sets["math human"][0][i][0].id]]
                                               for i in words if sets["math human"][0][i][0].id in swapped_ids], "boxed"),
        }
        print(f"\n## The answer gain (`explain.reach_check: answer_gain`), {cfg.model.name} as the policy\n")
        print("| set | tries | kept | refused: unreached | refused: other checks | precision | recall |")
        print("|---|---|---|---|---|---|---|")
        spreads = {}
        for name, (tries, fmt) in gain_sets.items():
            results = judge_each(model, tok, tries, "answer_gain", fmt)
            r = rates([v for v, _ in results])
            spreads[name] = _gain_spread(results)
            print(f"| {name} | {r['tries']} | {_pct(r['kept'], r['tries'])} | {r['refused_reach']} | {r['refused_other']} | - | - |")
        for name, rows in by_source.items():
            results = judge_each(model, tok, [(p, t) for p, t, _ in rows], "answer_gain")
            labels = [lab for *_, lab in rows]
            r = rates([v for v, _ in results], labels)
            spreads[name] = _gain_spread(results, labels)
            print(f"| {name} | {r['tries']} | {_pct(r['kept'], r['tries'])} | {r['refused_reach']} | {r['refused_other']} | "
                  f"{r['precision']:.2f} ({r['true_refusals']}/{r['true_refusals'] + r['wrong_refusals']}) | "
                  f"{r['recall']:.2f} ({r['true_refusals']}/{r['rationalisations']}) |")
        print("\nanswer gain (nats) of the tries that reached the scoring pass:")
        for name, line in spreads.items():
            print(f"  {name}: {line}")
    print("\nprecision and recall: of the reach check's refusals as a detector of rationalisations (a refused "
          "derivation, written or not, counts against precision)")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
