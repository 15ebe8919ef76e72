"""Tokens/s of the sampling engines the ecosystem offers for this stack, against plain `model.generate`,
measured side by side in one process, and the roofline they are all measured against.

Engines (each decodes the same rows: the embedded model's chat prompt, greedy, fixed length - EOS is
suppressed with min_new_tokens so every row decodes exactly --tokens tokens):
  generate        transformers' `generate`, dynamic KV cache (what plain TRL / our old code used)
  static          `generate` with cache_implementation="static"
  static+compile  the same with transformers' compiled decoding (CompileConfig, enabled on CPU by hand:
                  transformers only auto-compiles on accelerators); compile time is reported, not counted
  paged           transformers' continuous batching (`generate_batch`, paged attention "paged|sdpa")
  expo decode     ours (`expo_lite.core.sampling.decode_rows`): `generate` with per-row temperature/length, so
                  rows of different settings share one call
Warm-up calls are excluded; engines are interleaved over --repeats rounds and the median is reported.
The roofline: the model's FLOPs per generated token (2 x parameters incl. the LM head, plus attention
over the context) against this machine's measured matmul throughput (a large fp32 and bf16 matmul).

On a GPU (when one is available): `--dtype bfloat16` / `float16` and `--model` a 3B directory.

    .venv/bin/python benchmarks/sampling.py                 # batch 8, 16, 32; ~15 min on 2 cores
    .venv/bin/python benchmarks/sampling.py --json          # last line: {"speedup_batch16": ..., "engine": ...}
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from expo_lite.config import ExpoConfig
from expo_lite.core.sampling import Row, decode_rows, inference_mode
from expo_lite.models.loader import load_model


def matmul_gflops(dtype: torch.dtype, device: str, n: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def flops_per_token(model, context: int) -> float:
    """2 x parameters (every weight one multiply-add per token, the LM head included) + attention over the
    context (QK^T and AV: 2 x 2 x layers x context x hidden)."""
    params = sum(p.numel() for p in model.parameters() if p.dtype != torch.uint8)
    c = model.config
    if getattr(c, "tie_word_embeddings", False):
        params += c.vocab_size * c.hidden_size  # the tied LM head is a matmul too
    return 2 * params + 4 * c.num_hidden_layers * context * c.hidden_size


def engines(model, tok, batch: int, tokens: int, prompt_ids: list[int]):
    """name -> a function that decodes `batch` rows of `tokens` tokens and returns the tokens produced."""
    from transformers import CompileConfig, GenerationConfig

    ids = torch.tensor([prompt_ids] * batch, device=model.device)
    mask = torch.ones_like(ids)
    fixed = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                 eos_token_id=tok.eos_token_id)
    compile_config = CompileConfig(fullgraph=False, dynamic=False)
    compile_config._compile_all_devices = True  # transformers auto-compiles on accelerators only

    def hf(**extra):
        def run():
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=mask, **fixed, **extra)
            return (out.shape[1] - ids.shape[1]) * batch
        return run

    def paged():
        config = GenerationConfig(**fixed)
        with torch.no_grad():
            out = model.generate_batch([prompt_ids] * batch, generation_config=config, progress_bar=False)
        return sum(len(o.generated_tokens) for o in out.values())

    def expo():
        rows = [Row(tuple(prompt_ids), 0.0, tokens)] * batch
        with torch.no_grad():
            out = decode_rows(model.generate, model.device, rows, pad_id=tok.pad_token_id, eos_ids=[tok.eos_token_id],
                              extra={"min_new_tokens": tokens})  # EOS suppressed, as for the others
        return sum(len(ids) for ids, _ in out)

    return {"generate": hf(), "static": hf(cache_implementation="static"),
            "static+compile": hf(cache_implementation="static", compile_config=compile_config),
            "paged": paged, "expo decode": expo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded:smollm2-135m")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="engines to leave out")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = ExpoConfig.model_validate({"model": {"name": args.model, "backend": "hf", "dtype": args.dtype,
                                               "load_in_4bit": False}})
    model, tok = load_model(cfg)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many apples "
                                       "does Tom have now? Solve it step by step."}], tokenize=False,
                                     add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    dtype = getattr(torch, args.dtype)
    # bf16 on CPU at n=512: this venv's torch 2.14.1 (CUDA build) multiplies bf16 on the CPU at ~0.3 GFLOP/s
    peak = {name: matmul_gflops(dt, device, n=512 if device == "cpu" and dt == torch.bfloat16 else 2048)
            for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    per_token = flops_per_token(model, len(prompt_ids) + args.tokens // 2)
    roofline = peak["bf16" if dtype == torch.bfloat16 else "fp32"] * 1e9 / per_token
    print(f"{args.model} ({args.dtype}) on {device} x{torch.get_num_threads()} threads: {per_token / 1e9:.3f} GFLOP per "
          f"token; matmul fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s -> roofline "
          f"{roofline:.0f} tokens/s; prompt {len(prompt_ids)} tokens, {args.tokens} new tokens per row, "
          f"median of {args.repeats} interleaved repeats, warm-up excluded\n", flush=True)

    table: dict[int, dict[str, float]] = {}
    compile_seconds: dict[int, float] = {}
    with inference_mode(model):
        for batch in args.batches:
            runs = {k: v for k, v in engines(model, tok, batch, args.tokens, prompt_ids).items() if k not in args.skip}
            for name, run in runs.items():  # warm-up (and, for static+compile, the compilation)
                start = time.perf_counter()
                try:
                    run()
                except Exception as exc:  # noqa: BLE001 - an engine that cannot run here is reported, not fatal
                    print(f"batch {batch}: {name} failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
                    runs[name] = None
                if name == "static+compile":
                    compile_seconds[batch] = time.perf_counter() - start
            speeds: dict[str, list[float]] = {n: [] for n, r in runs.items() if r is not None}
            for _ in range(args.repeats):
                for name in speeds:
                    if device == "cuda":
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    produced = runs[name]()
                    if device == "cuda":
                        torch.cuda.synchronize()
                    speeds[name].append(produced / (time.perf_counter() - start))
            table[batch] = {n: statistics.median(v) for n, v in speeds.items()}
            print(f"batch {batch}: " + ", ".join(f"{n} {v:.0f}" for n, v in table[batch].items()), flush=True)

    names = list(next(iter(table.values())))
    print("\n| batch | " + " | ".join(f"{n} tok/s" for n in names) + " | best / generate | best, % of roofline |")
    print("|---" * (len(names) + 3) + "|")
    for batch, row in table.items():
        best = max(row, key=row.get)
        print(f"| {batch} | " + " | ".join(f"{row[n]:.0f}" for n in names) +
              f" | {row[best] / row['generate']:.2f}x ({best}) | {row[best] / roofline:.0%} |")
    if compile_seconds:
        print("\nstatic+compile compilation (not counted above): " +
              ", ".join(f"batch {b}: {s:.0f} s" for b, s in compile_seconds.items()))
    if args.json:
        row16 = table.get(16) or next(iter(table.values()))
        best = max(row16, key=row16.get)
        print(json.dumps({"speedup_batch16": row16[best] / row16["generate"], "engine": best, "table": table,
                          "roofline_tokens_per_s": roofline, "device": device}))


if __name__ == "__main__":
    main()
