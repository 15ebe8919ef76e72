"""`expo-lite plan CONFIG --trace`: the real training step of a config, run on fake tensors, its memory counted.

The planner (run/planner.py) predicts the peak from formulas; this runs the code a GPU run runs and counts
what it allocates, so the formulas can be checked and a user can see, before renting a GPU, what a config
costs. The model is `models/fake.py`'s: the recipe's architecture at full size, loaded as the hf backend
loads it (4-bit NF4 base, peft's k-bit preparation, LoRA), every tensor fake. `run/live_bytes.py` counts.

What runs, phase by phase (each the peak of live bytes above what is resident: weights, adapter, optimizer
states after the first step):

GRPO recipes (one optimizer micro-batch and one generation batch, at the configured lengths, every sequence
at its longest):
  training    `ExPGRPOTrainer.compute_loss` on one micro-batch of rollouts - TRL's GRPO loss as TRL computes
              it, plus our SFT term over that micro-batch's positives - and its backward, gradient
              checkpointing and bf16 autocast as configured;
  generation  transformers' `generate` (through our `decode_rows`) on the whole generation batch: rollouts
              plus the self-explanation tries riding along, first the prompts' prefill, then the last
              decoding step with every row's KV cache at full length (the cache is filled by one forward
              beforehand, outside the phase: decoding token by token would take minutes on fake tensors);
  scoring     `score_completions` on the tries, as the explanation engine scores them (self_explanation).
ExP-DPO recipes:
  pairs: generation / pairs: scoring   the same on one chunk of pair building (algo.pair_chunk_questions
              questions x (rollouts + tries)), and the scoring of the pairs' sides;
  training    TRL's `DPOTrainer.compute_loss` (policy and the frozen "ref" adapter TRL adds) on one micro-batch
              of pairs at the longest pair length, and its backward.

As on a GPU, not as on this machine: the weights are in the GPU's dtype (bf16), the training step runs under
the bf16 autocast accelerate would open (it opens none without a GPU), and TRL's GPU kernels for the GRPO
log-probs are stood in for (`_trl_gpu_kernels`: TRL's CPU fallback holds ~3.5 GiB of temporaries a GPU
never holds). Checked here: on this CPU, with TRL's CPU path, the fake step allocates byte for byte what
the real step allocates (benchmarks/memory_trace_check.py, tests/unit/models/test_fake.py).

What a trace cannot see: the CUDA context and cuBLAS workspaces, the caching allocator's rounding and
fragmentation, attention kernels' workspaces (the CPU's fused attention is traced in their place), and
Unsloth's own kernels (its fused LoRA and LM-head loss and its offloaded checkpointing are documented to
hold less than the stock path traced here, which would make the trace an upper bound for Unsloth users; not
measured here), and the scratch space inside a single op (e.g. logsumexp's exp buffer over one LM-head block:
the dispatch mode sees the op, not its internals). The planner adds the first ones as `overhead`; a GPU run's
peak-memory row (`make gpu-smoke`) is where they get measured.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..config import ExpoConfig
from ..models.dims import ModelDims, dims_for
from ..run.live_bytes import GIB, LiveBytes, storage_bytes

PAD, EOS, TOKEN = 0, 1, 2  # the ids of the trace's three-word tokenizer


@dataclass
class MemoryTrace:
    """Bytes of one traced step. `resident`: what stays for the whole run (weights, 4-bit states, LoRA and DPO's
    reference adapter, optimizer states). `phases`: the peak of each phase above `resident`."""

    weights: int
    optimizer: int
    phases: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    values_read: int = 0  # values read back from fake tensors (logged metrics), made up as 0

    @property
    def resident(self) -> int:
        return self.weights + self.optimizer

    @property
    def total(self) -> int:
        return self.resident + max(self.phases.values(), default=0)

    def as_gib(self) -> dict[str, float]:
        return {"weights": self.weights / GIB, "optimizer": self.optimizer / GIB,
                **{k: v / GIB for k, v in self.phases.items()}, "total": self.total / GIB}


def trace_memory(cfg: ExpoConfig, dims: ModelDims | None = None, gpu_kernels: bool = True) -> MemoryTrace:
    """Trace one step of `cfg` (its model at the size in `dims`, by default the recipe's model's).
    `gpu_kernels=False` traces TRL's CPU fallback instead of its GPU kernels (to compare with a real CPU run)."""
    from ..models.fake import fake_model

    start = time.perf_counter()
    dpo = cfg.algo.name == "exp_dpo"
    model, mode = fake_model(dims or dims_for(cfg.model.name), cfg.model, cfg.lora, adapters=("ref",) if dpo else ())
    kernels = _trl_gpu_kernels() if gpu_kernels else nullcontext()
    with mode, LiveBytes() as live, _quiet(), kernels, tempfile.TemporaryDirectory() as tmp:
        model.hf_device_map = {"": "cpu"}  # a Trainer must not `.to()` it: fake parameters cannot be moved
        build, run = (_dpo_trainer, _trace_dpo) if dpo else (_grpo_trainer, _trace_grpo)
        trainer = build(cfg, model, Path(tmp))
        weights = model_bytes(model)
        trace = MemoryTrace(weights, _first_optimizer_step(trainer, model))
        run(cfg, trainer, model, live, trace)
        trace.values_read = live.values_read
    trace.seconds = time.perf_counter() - start
    return trace


def model_bytes(model: Any) -> int:
    """Parameters, buffers and 4-bit quantization states (their absmax and codebooks are not parameters)."""
    tensors = [*model.parameters(), *model.buffers()]
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        while state is not None:
            tensors += [t for t in (state.absmax, state.code, getattr(state, "offset", None)) if t is not None]
            state = getattr(state, "state2", None)
    return storage_bytes(tensors)


def render_trace(cfg: ExpoConfig, trace: MemoryTrace, plan: Any, console: Any) -> None:
    """The traced step beside the planner's prediction, phase by phase."""
    from rich.table import Table

    table = Table(title=f"Traced on fake tensors in {trace.seconds:.0f} s: {cfg.model.name}, {cfg.algo.name} "
                        f"(the hf backend's stock path; not Unsloth's kernels)")
    table.add_column("part")
    table.add_column("traced GiB", justify="right")
    table.add_column("planner GiB", justify="right")
    planned = {"training": plan.training, "generation": plan.kv_cache, "scoring": plan.scoring,
               "pairs: generation": plan.kv_cache, "pairs: scoring": plan.scoring}
    table.add_row("resident: weights, 4-bit states, adapters", f"{trace.weights / GIB:.2f}", f"{plan.weights / GIB:.2f}")
    table.add_row("resident: optimizer states", f"{trace.optimizer / GIB:.2f}", f"{plan.optimizer / GIB:.2f}")
    for name, value in trace.phases.items():
        table.add_row(f"{name} (above resident)", f"{value / GIB:.2f}",
                      f"{planned[name] / GIB:.2f}" if name in planned else "-")
    table.add_row("peak = resident + the largest phase", f"{trace.total / GIB:.2f}",
                  f"{(plan.total - plan.overhead) / GIB:.2f}", style="bold")
    table.add_row("+ what a trace cannot see (CUDA context, allocator)", "-", f"{plan.overhead / GIB:.2f}")
    console.print(table)


# ------------------------------------------------------------------------------------------------ phases


@contextmanager
def _phase(live: LiveBytes, trace: MemoryTrace, name: str, base: int | None = None):
    """Record a phase's peak above `base` (by default what was live when it began)."""
    base = live.live if base is None else base
    with live.phase(name):
        yield
    trace.phases[name] = max(trace.phases.get(name, 0), live.phases[name] - base)


def _trace_grpo(cfg: ExpoConfig, trainer: Any, model: Any, live: LiveBytes, trace: MemoryTrace) -> None:
    import torch

    from ..algorithms.positives import Positives, split_for_accumulation

    t, a, e = cfg.train, cfg.algo, cfg.explain
    spg = trainer.args.steps_per_generation
    rollouts = t.per_device_train_batch_size * spg
    questions = rollouts // a.num_generations
    explaining = a.positive_source == "self_explanation"
    positives = [([TOKEN] * t.max_prompt_length, [TOKEN] * e.max_new_tokens)] * questions
    trainer._positives = Positives(split_for_accumulation(positives, spg), questions * e.max_new_tokens)
    trainer.current_gradient_accumulation_steps = t.gradient_accumulation_steps  # as train() sets it per window
    trainer.state.max_steps = t.max_steps
    b, p, c = t.per_device_train_batch_size, t.max_prompt_length, t.max_completion_length
    inputs = {"prompt_ids": _ids(b, p), "prompt_mask": torch.ones(b, p, dtype=torch.long),
              "completion_ids": _ids(b, c), "completion_mask": torch.ones(b, c, dtype=torch.long),
              "advantages": torch.ones(b), "num_items_in_batch": torch.tensor(float(rollouts * c))}
    _training(trainer, model, inputs, live, trace)
    tries = questions * e.num_tries if explaining else 0
    _generation(model, live, trace, "generation", rollouts + tries, p, max(c, e.max_new_tokens if tries else 0))
    if explaining:
        _scoring(model, live, trace, "scoring", [([TOKEN] * p, [TOKEN] * e.max_new_tokens)] * tries)


def _trace_dpo(cfg: ExpoConfig, trainer: Any, model: Any, live: LiveBytes, trace: MemoryTrace) -> None:
    t, a, e = cfg.train, cfg.algo, cfg.explain
    p = t.max_prompt_length
    tries = a.pair_chunk_questions * e.num_tries if a.positive_source == "self_explanation" else 0
    rows = a.pair_chunk_questions * a.num_generations + tries
    _generation(model, live, trace, "pairs: generation", rows, p, max(t.max_completion_length,
                                                                     e.max_new_tokens if tries else 0))
    sides = [([TOKEN] * p, [TOKEN] * t.max_completion_length)] * (a.pair_chunk_questions * 2)  # chosen + rejected
    _scoring(model, live, trace, "pairs: scoring", sides + [([TOKEN] * p, [TOKEN] * e.max_new_tokens)] * tries)
    longest = trainer.args.max_length - p
    pair = {"prompt_ids": [TOKEN] * p, "chosen_ids": [TOKEN] * longest, "rejected_ids": [TOKEN] * longest}
    _training(trainer, model, trainer.data_collator([pair] * t.per_device_train_batch_size), live, trace)


def _training(trainer: Any, model: Any, inputs: dict[str, Any], live: LiveBytes, trace: MemoryTrace) -> None:
    """The trainer's loss on one micro-batch and its backward, under the GPU's autocast; the gradients are freed
    after it, as the Trainer frees them after each optimizer step."""
    model.train()
    with _phase(live, trace, "training"), _gpu_autocast(trainer.args):
        trainer.compute_loss(model, inputs).backward()
    trainer.optimizer.zero_grad(set_to_none=True)


def _generation(model: Any, live: LiveBytes, trace: MemoryTrace, name: str, rows: int, prompt: int, new: int) -> None:
    import torch

    from ..core.sampling import Row, decode_rows, inference_mode

    device = next(model.parameters()).device
    decode = functools.partial(decode_rows, device=device, pad_id=PAD, eos_ids=[EOS])
    before = live.live  # the KV cache built below belongs to the phase
    with inference_mode(model), torch.no_grad():
        with _phase(live, trace, name):  # the prompts' prefill and the first new token
            decode(model.generate, rows=[Row(tuple([TOKEN] * prompt), 1.0, 1)] * rows)
        width = prompt + new - 1  # tokens in each row when its last new token is sampled
        cache = model(input_ids=_ids(rows, width - 1), use_cache=True, logits_to_keep=1).past_key_values
        with _phase(live, trace, name, before):  # the last new token: every row's KV cache at full length
            decode(functools.partial(model.generate, past_key_values=cache),
                   rows=[Row(tuple([TOKEN] * width), 1.0, 1)] * rows)
        del cache


def _scoring(model: Any, live: LiveBytes, trace: MemoryTrace, name: str, pairs: list[tuple[list[int], list[int]]]) -> None:
    from ..core.logprobs import score_completions

    with _phase(live, trace, name):
        score_completions(model, [q for q, _ in pairs], [c for _, c in pairs], PAD)


def _ids(rows: int, width: int) -> Any:
    import torch

    return torch.full((rows, width), TOKEN, dtype=torch.long)


# ------------------------------------------------------------------------------------------------ trainers


def _tokenizer() -> Any:
    """Three words (pad, eos, x): the trainers need a tokenizer object; the trace feeds token ids itself."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"<pad>": PAD, "<eos>": EOS, "x": TOKEN}, unk_token="x"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", padding_side="left")


def _grpo_trainer(cfg: ExpoConfig, model: Any, out: Path) -> Any:
    from datasets import Dataset

    from ..algorithms.grpo import ExPGRPOTrainer
    from ..models.precision import model_dtype
    from ..recipes.train import grpo_args
    from ..run.rundir import RunDir
    from ..verify.answers import correctness_reward

    args = _as_on_a_gpu(grpo_args(cfg, RunDir(out), model_dtype(model)), model)
    prompts = args.per_device_train_batch_size * args.steps_per_generation // cfg.algo.num_generations
    rows = [{"prompt": "x", "answer": "1", "question": "x", "problem_id": str(i), "solution": "x", "level": 1}
            for i in range(prompts)]
    return ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args,
                          train_dataset=Dataset.from_list(rows), processing_class=_tokenizer(),
                          explain_config=cfg.explain, prompt_config=cfg.prompt)


def _dpo_trainer(cfg: ExpoConfig, model: Any, out: Path) -> Any:
    from datasets import Dataset
    from trl import DPOTrainer

    from ..models.precision import model_dtype
    from ..recipes.dpo import dpo_args

    args = _as_on_a_gpu(dpo_args(cfg, out, model_dtype(model)), model)
    pairs = [{"prompt": "x", "chosen": "x", "rejected": "x"}] * args.per_device_train_batch_size
    return DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=_tokenizer())


def _as_on_a_gpu(args: Any, model: Any) -> Any:
    """The mixed-precision flags a GPU run sets (bf16 autocast for a bf16 model), not this machine's."""
    from ..models.precision import mixed_precision, model_dtype

    for flag, value in mixed_precision(model_dtype(model), on_gpu=True).items():
        setattr(args, flag, value)
    return args


def _gpu_autocast(args: Any) -> Any:
    """The mixed precision a GPU's training step runs under (accelerate wraps the forward in bf16/fp16 autocast).
    accelerate turns mixed precision off without a GPU, so the trace opens the same autocast on its CPU device."""
    import torch

    dtype = torch.bfloat16 if args.bf16 else torch.float16
    return torch.autocast("cpu", dtype=dtype, enabled=bool(args.bf16 or args.fp16))


def _first_optimizer_step(trainer: Any, model: Any) -> int:
    """Create the optimizer and take one step on zero gradients: its states exist from the first step on and
    stay for the whole run. Returns their bytes."""
    import torch

    optimizer = trainer.create_optimizer()
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return storage_bytes([t for state in optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor)])


@contextmanager
def _trl_gpu_kernels():
    """The stand-in for TRL's GPU code in trl/kernels/chunked_logprob.py (the GRPO loss's log-probs through the LM
    head, tile by tile), which needs a GPU. On a GPU each Triton launch folds a logits tile in place and
    allocates nothing, and the gradient GEMMs accumulate bf16 products into fp32 directly (`addmm` with
    `out_dtype`); without one, TRL folds with torch ops that hold about seven tile-sized temporaries (3.5 GiB
    with Qwen's vocabulary) and makes fp32 copies of each tile and weight chunk, none of which a GPU run holds.
    Inside this block TRL takes its GPU branches: a launch does nothing (the kernel's memory behaviour; on fake
    tensors there are no values to compute) and the accumulation is the GPU's `addmm`. A TRL without this
    module (or these names) is traced as it is."""
    import torch

    try:
        import trl.kernels.chunked_logprob as kernels
    except ImportError:
        yield
        return
    names = ("_use_triton", "_forward_kernel", "_backward_kernel", "_addmm_fp32")
    if not all(hasattr(kernels, n) for n in names):
        yield
        return

    class Launch:  # `kernel[grid](*args)`: a launch that writes its outputs in place, allocating nothing
        def __getitem__(self, grid: Any) -> Any:
            return lambda *args, **kwargs: None

    import trl.trainer.utils as trl_utils  # imported `_use_triton` by name: it picks the GPU's layout of the tokens

    saved = {n: getattr(kernels, n) for n in (*names, "triton") if hasattr(kernels, n)}
    saved_utils = getattr(trl_utils, "_use_triton", None)
    kernels._use_triton = lambda device: True
    if saved_utils is not None:
        trl_utils._use_triton = kernels._use_triton
    kernels._forward_kernel = kernels._backward_kernel = Launch()
    if getattr(kernels, "_MM_OUT_DTYPE", False):  # a GPU accumulates bf16 products into fp32 without fp32 copies
        kernels._addmm_fp32 = lambda acc, a, b: torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
    if "triton" not in saved:  # no triton installed: the backward's grid arithmetic is all it needs of it
        kernels.triton = SimpleNamespace(cdiv=lambda a, b: -(-a // b))
    try:
        yield
    finally:
        for n in (*names, "triton"):
            if n in saved:
                setattr(kernels, n, saved[n])
            elif hasattr(kernels, n):
                delattr(kernels, n)
        if saved_utils is not None:
            trl_utils._use_triton = saved_utils


@contextmanager
def _quiet():
    """The trainers' notices about a model they cannot move or a tokenizer they do not know are about the
    trace's stand-ins, not the user's config."""
    names = ["transformers.trainer", "transformers.tokenization_utils_base", "trl"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
