"""Which self-explanations reach their answer: the two tests of `explain.reach_check`, measured on real text.

    .venv/bin/python benchmarks/positive_checks.py                  # the shipped sets, both tests (~19 min, 2 cores)
    .venv/bin/python benchmarks/positive_checks.py --gsm8k PATH     # every human solution of a GSM8K split

Three sets of tries, each judged exactly as training judges a self-explanation (algorithms/explain.judge: every
check, the scoring pass under P(q), one try per question):

  human      GSM8K's human-written training solutions (as the task loader reads them: calculator annotations
             removed), each as a try of its own question with its own `#### N` line: must be kept
  swapped    the same solutions ending in the answer of another question that their reasoning never mentions,
             judged against that answer (as if it had been the hint): must be refused
  labelled   the embedded model's own tries (tests/data/positives/labelled_tries.jsonl), labelled by reading
             them: `derivation` must be kept, `rationalisation` refused

For each test (derivation, answer_gain) the table gives how many tries of each set it keeps, and on the labelled set
its precision and recall as a detector of rationalisations. The answer gain's distribution per set is printed too
(the threshold is explain.min_answer_gain).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LABELLED = REPO / "tests" / "data" / "positives" / "labelled_tries.jsonl"
GSM8K_COPY = REPO / "benchmarks" / "data" / "gsm8k"
TESTS = ("derivation", "answer_gain")
_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")


def gsm8k_problems(path: Path = GSM8K_COPY, limit: int | None = None) -> list[Any]:
    """GSM8K's training rows as training reads them (Problem: question, gold, human solution)."""
    from expo_lite.config import TaskConfig
    from expo_lite.data.tasks import load_task

    problems = load_task(TaskConfig(name="gsm8k", path=str(path)), "train").problems
    return problems[:limit] if limit else problems


def human_set(problems: list[Any]) -> list[tuple[Any, str]]:
    """Each human solution as a try of its own question, ending in its `#### N` line."""
    return [(p, f"{p.solution}\n#### {p.answer}") for p in problems if p.solution]


def _mentions(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER_RE.findall(text)}


def swapped_set(problems: list[Any]) -> list[tuple[Any, str]]:
    """Each human solution ending in the answer of the next question (in order, wrapping) whose answer its
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


def labelled_set(path: Path = LABELLED) -> list[tuple[Any, str, str]]:
    """(problem, try text, label) of the embedded model's labelled tries; a derivation whose last step is not
    written (`written: false`) is labelled `derivation (unwritten)`."""
    from expo_lite.data.tasks import Problem

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(Problem(r["problem_id"], r["question"], r["gold"], None, r.get("level")), r["text"],
             r["label"] + ("" if r.get("written", True) else " (unwritten)")) for r in rows]


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
    """Kept count; with labels, the confusion of `unreached` (refused) against `rationalisation`."""
    kept = sum(v == "ok" for v in verdicts)
    out: dict[str, Any] = {"tries": len(verdicts), "kept": kept, "refused_unreached": sum(v == "unreached" for v in verdicts),
                           "refused_other": len(verdicts) - kept - sum(v == "unreached" for v in verdicts)}
    if labels is not None:
        flagged = [v == "unreached" for v in verdicts]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gsm8k", type=Path, default=GSM8K_COPY, help="a GSM8K folder/file in the hub's schema")
    parser.add_argument("--limit", type=int, default=None, help="only the first N GSM8K rows")
    parser.add_argument("--no-model", action="store_true", help="the derivation test alone (no scoring pass)")
    args = parser.parse_args()

    import torch

    from expo_lite.algorithms.explain import check_explanation
    from expo_lite.config import ExplainConfig, load_config
    from expo_lite.testing import build_tokenizer

    torch.manual_seed(0)
    problems = gsm8k_problems(args.gsm8k, args.limit)
    sets = {"human": human_set(problems), "swapped": swapped_set(problems)}
    labelled = labelled_set()
    by_source: dict[str, list[tuple[Any, str, str]]] = {}
    for p, text, label in labelled:
        by_source.setdefault("labelled " + ("arithmetic" if p.id.startswith("arith") else "gsm8k"), []).append((p, text, label))
    print(f"GSM8K rows: {len(problems)} ({args.gsm8k.name}); labelled tries: {len(labelled)}\n")
    table: dict[tuple[str, str], dict[str, Any]] = {}
    spreads: dict[str, str] = {}
    start = time.perf_counter()
    if args.no_model:
        tok, cfg = build_tokenizer(), ExplainConfig(reach_check="derivation")

        def derive(tries):
            return [(check_explanation(t, False, p.answer, cfg, tok, "hash", p.verify_context())[0], None) for p, t in tries]

        for name, tries in sets.items():
            table[(name, "derivation")] = rates([v for v, _ in derive(tries)])
        for name, rows in by_source.items():
            table[(name, "derivation")] = rates([v for v, _ in derive([(p, t) for p, t, _ in rows])], [lab for *_, lab in rows])
    else:
        from expo_lite.models.loader import load_model

        model, tok = load_model(load_config(None, ["model.backend=hf"]))
        for test in TESTS:
            for name, tries in sets.items():
                results = judge_each(model, tok, tries, test)
                table[(name, test)] = rates([v for v, _ in results])
                if test == "answer_gain":
                    spreads[name] = _gain_spread(results)
            for name, rows in by_source.items():
                results = judge_each(model, tok, [(p, t) for p, t, _ in rows], test)
                labels = [lab for *_, lab in rows]
                table[(name, test)] = rates([v for v, _ in results], labels)
                if test == "answer_gain":
                    spreads[name] = _gain_spread(results, labels)
    print("| set | test | tries | kept | refused: unreached | refused: other checks | precision | recall | unwritten "
          "derivations kept |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, test), r in table.items():
        pr = (f"{r['precision']:.2f} ({r['true_refusals']}/{r['true_refusals'] + r['wrong_refusals']}) | "
              f"{r['recall']:.2f} ({r['true_refusals']}/{r['rationalisations']}) | {r['unwritten_kept']}/{r['unwritten']}"
              ) if "precision" in r else "- | - | -"
        print(f"| {name} | {test} | {r['tries']} | {r['kept']} ({r['kept'] / max(r['tries'], 1):.1%}) | "
              f"{r['refused_unreached']} | {r['refused_other']} | {pr} |")
    if spreads:
        print("\nanswer gain (nats) of the tries that reached the scoring pass:")
        for name, line in spreads.items():
            print(f"  {name}: {line}")
    print("\nprecision and recall: of `unreached` as a detector of rationalisations (a refused derivation, written "
          "or not, counts against precision)")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
