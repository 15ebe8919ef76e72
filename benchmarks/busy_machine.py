"""How torch's thread count behaves when the machine is busy: the same work with 1 and with 2 intra-op
threads, on a quiet machine and with one CPU-burning process beside it, measured side by side in one run.

Why it matters: torch starts one intra-op thread per core. When another process holds one of the two
cores, every parallel region waits for the thread that shares its core with the other process, so 2 threads
can be slower than 1. CI runs the test suite on shared machines, so the suite's thread count is chosen from
this measurement (tests/conftest.py).

The work: the embedded model (as the tests load it: hf backend) decodes 8 rows x 32 tokens with
`expo_lite.core.sampling.generate`, then one forward + backward on those 8 sequences. Settings are interleaved
over --repeats rounds; the median seconds per unit of work is printed.

    .venv/bin/python benchmarks/busy_machine.py            # ~5 min on 2 cores; run it alone
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from expo_lite.config import ExpoConfig
from expo_lite.core.sampling import generate
from expo_lite.data.prompts import chat_prompt
from expo_lite.models.loader import load_model


def unit_of_work(model, tok, prompts: list[str], tokens: int) -> None:
    outs = generate(model, tok, prompts, max_new_tokens=tokens, temperature=0.7)
    ids = [g.prompt_ids + g.completion_ids for per_prompt in outs for g in per_prompt]
    width = max(len(x) for x in ids)
    batch = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x in ids])
    model.train()
    loss = model(input_ids=batch, labels=batch).loss
    loss.backward()
    model.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    model, tok = load_model(ExpoConfig.model_validate({"model": {"backend": "hf"}}))
    prompts = [chat_prompt(tok, f"What is {a} + {a + 3}? Put the answer in \\boxed{{}}.") for a in range(8)]
    unit_of_work(model, tok, prompts, args.tokens)  # warm-up
    settings = [(busy, threads) for busy in (False, True) for threads in sorted({1, default_threads}, reverse=True)]
    times: dict[tuple[bool, int], list[float]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for busy, threads in settings:
            burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                time.sleep(0.5 if busy else 0)
                torch.set_num_threads(threads)
                start = time.perf_counter()
                unit_of_work(model, tok, prompts, args.tokens)
                times[(busy, threads)].append(time.perf_counter() - start)
            finally:
                if burner:
                    burner.kill()
                    burner.wait()
    torch.set_num_threads(default_threads)

    print(f"\nembedded model, {len(prompts)} rows x {args.tokens} tokens + forward/backward; median of {args.repeats} "
          f"interleaved repeats; torch default here: {default_threads} threads\n")
    print("| machine | threads | s (median) | min-max |\n|---|---|---|---|")
    medians = {}
    for (busy, threads), ts in times.items():
        medians[(busy, threads)] = statistics.median(ts)
        print(f"| {'one burner beside' if busy else 'quiet'} | {threads} | {medians[(busy, threads)]:.1f} | "
              f"{min(ts):.1f}-{max(ts):.1f} |")
    if default_threads > 1:
        ratio_quiet = medians[(False, 1)] / medians[(False, default_threads)]
        ratio_busy = medians[(True, 1)] / medians[(True, default_threads)]
        print(f"\n1 thread / {default_threads} threads: quiet {ratio_quiet:.2f}x, busy {ratio_busy:.2f}x "
              "(below 1 = 1 thread faster)")
        if args.json:
            print(json.dumps({"one_over_default_quiet": ratio_quiet, "one_over_default_busy": ratio_busy,
                              "default_threads": default_threads}))


if __name__ == "__main__":
    main()
