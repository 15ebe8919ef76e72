"""ExP-GRPO step time against plain GRPO on the embedded model, measured side by side in one process.

Exact by construction: every rollout and every explanation try decodes exactly --length tokens (EOS is
suppressed for all rows), so RNG-dependent stopping cannot move the ratio; rewards are fixed (all groups
solved, or none), so what ExPO does each step is fixed too; and every explanation try is *made* valid (the
validity checks are replaced by "valid", benchmark only), so each explained question trains a positive of
--length tokens plus its final line: the SFT term's forward and backward are always in the measured step, as
they are whenever a real try passes. (Left to the checks, every try of a fixed-length decode is truncated,
no positive is ever trained, and "ExP" would time only the extra decode rows.) The scoring pass that ranks
tries and measures their answer gain runs on every try, as for real valid ones.

Variants run round-robin, --repeats short trainings of --steps steps each; the first step of each training is
warm-up and dropped. Per variant: the median step time and its min-max; per ExP variant, the ratio to GRPO's
median within each round of the round-robin (so a slower period of the machine hits both), as the median and
min-max over rounds; and the positives trained per step (`expo/positives`), which must be > 0 at every step.

Variants (G rollouts for each of 2 questions per step, 1 explanation try per question):
  GRPO                        plain TRL (positive_source none)
  ExP all                     explain_on all: the tries ride in TRL's rollout call (one decode)
  ExP all, separate call      the same with explain.sampling=separate (the previous way)
  ExP unsolved, all solved    explain_on unsolved with every group solved, explain.sampling=auto
  ExP unsolved, all solved, with rollouts   ... sampling every try in the rollout call, then dropping them
  ExP unsolved, none solved   explain_on unsolved, no group solved, explain.sampling=auto
  ExP unsolved, none solved, separate       ... a second call for the unsolved groups
The floor of ExP-GRPO's overhead is one extra row per G rollouts in the same decode: ~1 + 1/G.

    .venv/bin/python benchmarks/step_time.py                       # G=4 and G=8, ~50 min on 2 cores
    .venv/bin/python benchmarks/step_time.py --quick --json        # G=4 only, short; last line JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch

import expo_lite.algorithms.explain as explain_module
import expo_lite.core.sampling as sampling
from expo_lite.algorithms.grpo import ExPGRPOConfig, ExPGRPOTrainer
from expo_lite.config import ExplainConfig, load_config
from expo_lite.data.tasks import load_task
from expo_lite.models.loader import load_model
from expo_lite.models.precision import mixed_precision, model_dtype
from expo_lite.recipes.train import build_prompt_dataset

_original_row_sampling = sampling.RowSampling.__call__


def _no_early_eos(self, input_ids, scores):
    """Benchmark only: no row may end before its limit (exact lengths)."""
    step = input_ids.shape[1] - self.prompt_width
    scores = scores.clone()
    early = (self.limit.to(scores.device) > step).unsqueeze(1)
    scores[:, self.eos_id] = torch.where(early.squeeze(1), torch.full_like(scores[:, self.eos_id], float("-inf")),
                                         scores[:, self.eos_id])
    return _original_row_sampling(self, input_ids, scores)


sampling.RowSampling.__call__ = _no_early_eos


def _every_try_valid(text, truncated, gold, cfg, tokenizer, fmt="boxed", context=None):
    """Benchmark only: every try passes the checks, its whole text the reasoning (fixed-length positives)."""
    return explain_module.VALID, text


explain_module.check_explanation = _every_try_valid


def all_solved(completions, **_):
    return [1.0] * len(completions)


def none_solved(completions, **_):
    return [0.0] * len(completions)


VARIANTS = {  # name -> (positive source, explain_on, explain.sampling, reward)
    "GRPO": ("none", "all", "auto", none_solved),
    "ExP all": ("self_explanation", "all", "auto", none_solved),
    "ExP all, separate call": ("self_explanation", "all", "separate", none_solved),
    "ExP unsolved, all solved": ("self_explanation", "unsolved", "auto", all_solved),
    "ExP unsolved, all solved, with rollouts": ("self_explanation", "unsolved", "with_rollouts", all_solved),
    "ExP unsolved, none solved": ("self_explanation", "unsolved", "auto", none_solved),
    "ExP unsolved, none solved, separate": ("self_explanation", "unsolved", "separate", none_solved),
}


def train_once(model, tok, data, G: int, variant: str, steps: int, length: int) -> tuple[list[float], list[float]]:
    """(step times, positives trained per step), the first (warm-up) step dropped from both."""
    source, explain_on, mode, reward = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as out:
        args = ExPGRPOConfig(
            output_dir=out, max_steps=steps, per_device_train_batch_size=2 * G, num_generations=G,
            max_completion_length=length, learning_rate=1e-7, use_cpu=not torch.cuda.is_available(), report_to="none",
            save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, temperature=0.7,
            gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False},
            positive_source=source, explain_on=explain_on, sft_beta=0.04,
            generation_kwargs={"min_new_tokens": length},  # TRL's own rows: exact length too
            # as `expo-lite train` does: TRL's bf16=True default would autocast a CPU run to bf16, whose
            # matmuls run at ~1 GFLOP/s on this CPU (a 190 s step instead of ~15 s)
            **mixed_precision(model_dtype(model), torch.cuda.is_available()),
        )
        trainer = ExPGRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=data, processing_class=tok,
                                 explain_config=ExplainConfig(num_tries=1, max_new_tokens=length, temperature=0.7,
                                                              sampling=mode))
        trainer.train()
    times = [h["step_time"] for h in trainer.state.log_history if "step_time" in h]
    positives = [h.get("expo/positives", 0.0) for h in trainer.state.log_history if "step_time" in h]
    return times[1:], positives[1:]  # the first step is warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--length", type=int, default=48, help="tokens per rollout and per explanation try")
    parser.add_argument("--steps", type=int, default=3, help="steps per training (the first is dropped)")
    parser.add_argument("--repeats", type=int, default=3, help="trainings per variant, round-robin")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="G=4 only, 2 repeats, the variants of the JSON line")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.groups, args.repeats = [4], 2
        args.variants = ["GRPO", "ExP all", "ExP unsolved, all solved"]

    cfg = load_config("demo")
    models = {}
    results: dict[int, dict[str, list[list[float]]]] = {}  # G -> variant -> step times of each round
    positives: dict[int, dict[str, list[float]]] = {}
    print(f"embedded SmolLM2-135M, {torch.get_num_threads()} threads, 2 questions x G rollouts x {args.length} tokens, "
          f"1 explanation try x {args.length} tokens (every try made valid), EOS suppressed; {args.repeats} trainings x "
          f"{args.steps} steps per variant, round-robin, first step of each dropped\n", flush=True)
    for G in args.groups:
        results[G] = {v: [] for v in args.variants}
        positives[G] = {v: [] for v in args.variants}
        for _ in range(args.repeats):
            for variant in args.variants:
                if variant not in models:
                    torch.manual_seed(0)
                    models[variant] = load_model(cfg)
                model, tok = models[variant]
                data, _ = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tok)
                start = time.perf_counter()
                times, trained = train_once(model, tok, data, G, variant, args.steps, args.length)
                results[G][variant].append(times)
                positives[G][variant] += trained
                print(f"G={G} {variant}: {time.perf_counter() - start:.0f}s, positives per step {trained}", flush=True)

    print("\n| G | variant | s/step (median) | min-max | vs GRPO: median of rounds | min-max of rounds | positives/step "
          "| floor 1 + 1/G |\n|---|---|---|---|---|---|---|---|")
    ratios: dict[str, float] = {}
    for G, by_variant in results.items():
        base_rounds = [statistics.median(r) for r in by_variant["GRPO"]]
        for variant, rounds in by_variant.items():
            times = [t for r in rounds for t in r]
            per_round = [statistics.median(r) / b for r, b in zip(rounds, base_rounds, strict=True)]
            ratios[f"{G}/{variant}"] = statistics.median(per_round)
            trained = positives[G][variant]
            shown = "-" if variant == "GRPO" else f"{min(trained):.0f}-{max(trained):.0f}"
            print(f"| {G} | {variant} | {statistics.median(times):.1f} | {min(times):.1f}-{max(times):.1f} | "
                  f"{statistics.median(per_round):.2f}x | {min(per_round):.2f}-{max(per_round):.2f}x | {shown} | "
                  f"{1 + 1 / G:.2f} |")
            if variant != "GRPO" and VARIANTS[variant][3] is none_solved and min(trained) == 0:
                print(f"  !! {variant}: a step trained no positive; its time leaves out the SFT term")
    if args.json:
        print(json.dumps({"ratio_g4_all": ratios.get("4/ExP all"), "ratio_g8_all": ratios.get("8/ExP all"),
                          "ratio_g4_unsolved_all_solved": ratios.get("4/ExP unsolved, all solved"),
                          "ratios": ratios}))


if __name__ == "__main__":
    main()
