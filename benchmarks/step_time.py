"""Step time of ExP-GRPO vs plain GRPO on the embedded model, measured side by side in one process.

For each group size G: plain GRPO (positive_source none), ExP-GRPO with explain_on=all and with
explain_on=unsolved, same seed, same data, same lengths. Reports the mean time per optimizer step
(first step dropped as warm-up) and, for ExP-GRPO, how much of the step went to self-explanation
sampling, to scoring the tries under P(q), and to the SFT forward/backward.

The floor of ExP-GRPO's overhead is one extra generation per G rollouts (num_tries=1 and equal lengths
make the explanation sampling 1/G of the rollout sampling) plus one SFT forward/backward.

    .venv/bin/python benchmarks/step_time.py --steps 3 --groups 4 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict

import torch

import expo_lite.explain as explain_mod
import expo_lite.grpo as grpo_mod
from expo_lite.answers import correctness_reward
from expo_lite.config import ExplainConfig, load_config
from expo_lite.grpo import ExPGRPOConfig, ExPGRPOTrainer
from expo_lite.model import load_model
from expo_lite.tasks import load_task
from expo_lite.train import build_prompt_dataset

TIMES: dict[str, float] = defaultdict(float)


def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - start
    return wrapper


# Instrument the pieces ExPO adds (benchmark only): sampling, scoring of tries, SFT forward+backward is
# measured as the nll_sum forward here plus its share of backward, which we cannot separate, so the SFT
# number is the forward only and the remainder shows up in "other".
explain_mod.generate = timed("explain_sampling", explain_mod.generate)
explain_mod.score_completions = timed("explain_scoring", explain_mod.score_completions)
grpo_mod.nll_sum = timed("sft_forward", grpo_mod.nll_sum)


def run(G: int, source: str, explain_on: str, steps: int, prompts: int, length: int, tries: int):
    cfg = load_config("configs/demo.yaml")
    torch.manual_seed(0)
    model, tok = load_model(cfg)
    problems = load_task(cfg.task).problems
    data, _ = build_prompt_dataset(problems, "hash", cfg, tok)
    with tempfile.TemporaryDirectory() as out:
        args = ExPGRPOConfig(
            output_dir=out, max_steps=steps, per_device_train_batch_size=prompts * G, num_generations=G,
            max_completion_length=length, learning_rate=5e-5, use_cpu=True, bf16=False, report_to="none",
            save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, temperature=0.7,
            gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False},
            positive_source=source, explain_on=explain_on, sft_beta=0.04,
        )
        trainer = ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data,
                                 processing_class=tok,
                                 explain_config=ExplainConfig(num_tries=tries, max_new_tokens=length, temperature=0.7))
        TIMES.clear()
        trainer.train()
    logs = [h for h in trainer.state.log_history if "step_time" in h]
    step_times = [h["step_time"] for h in logs][1:] or [logs[0]["step_time"]]
    extra = {k: v / steps for k, v in TIMES.items()}
    all_wrong = sum(h.get("expo/all_wrong_frac", float("nan")) for h in logs) / len(logs)
    return sum(step_times) / len(step_times), extra, all_wrong


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--groups", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--tries", type=int, default=1)
    a = parser.parse_args()
    print(f"embedded SmolLM2-135M, CPU {torch.get_num_threads()} threads, {a.prompts} prompts/step, "
          f"{a.length} new tokens for rollouts and explanations, {a.tries} explanation try, {a.steps} steps "
          f"(first dropped)\n")
    print("| G | variant | s/step | vs GRPO | explain sampling | scoring tries | SFT forward | all-wrong frac |")
    print("|---|---|---|---|---|---|---|---|")
    for G in a.groups:
        base = None
        for name, source, on in [("GRPO", "none", "all"), ("ExP-GRPO all", "self_explanation", "all"),
                                 ("ExP-GRPO unsolved", "self_explanation", "unsolved")]:
            sec, extra, wrong = run(G, source, on, a.steps, a.prompts, a.length, a.tries)
            base = base or sec
            print(f"| {G} | {name} | {sec:.1f} | {sec / base:.2f}x | {extra.get('explain_sampling', 0):.1f}s "
                  f"| {extra.get('explain_scoring', 0):.1f}s | {extra.get('sft_forward', 0):.1f}s | {wrong:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
