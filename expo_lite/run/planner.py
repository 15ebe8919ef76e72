"""`expo-lite plan`: predict the peak GPU memory of a config before renting the GPU.

    peak = weights + LoRA (params + grads + optimizer states)
         + max(training step: checkpointed activations + one layer recomputed + logits,
               generation: KV cache of every sequence sampled at once + its last-token logits,
               scoring: one no-grad forward's hidden states + one LM-head block)
         + runtime overhead (CUDA context, allocator slack)

What is sampled at once: TRL generates a whole generation batch in one call (per_device_train_batch_size
x steps_per_generation rollouts; steps_per_generation defaults to gradient_accumulation_steps), and the
self-explanation tries of its questions. Our log-probs (scoring tries, the SFT term, DPO's rejected
choice) never hold full-vocab logits: the LM head runs on LOGIT_BLOCK_TOKENS positions at a time.

Each part is a closed formula of the model's dimensions and the config; `plan_memory` returns them
separately so the fit table can say which knob to lower. Model dimensions come from models/dims.py.
The estimate is a planning aid, not a guarantee. `expo-lite plan --trace` (tools/memory_trace.py) runs the
real step on fake tensors: on the hf backend's stock path a 4-bit model's activations and KV cache are fp32
(peft's k-bit preparation upcasts the embeddings), which these formulas count as 16-bit - they are up to
~48% under that trace for the 3B models (README, "The real step, traced"). Unsloth's kernels are documented
to hold less than the stock path; no GPU has measured either yet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..config import ExpoConfig
from ..core.logprobs import LOGIT_BLOCK_TOKENS, SCORING_TOKENS_PER_FORWARD
from ..models.dims import ModelDims, dims_for

GIB = 2**30

NF4_BYTES_PER_PARAM = (4 + 8 / 64 + 32 / (64 * 256)) / 8  # 4-bit codes + double-quantized absmax per 64
LOGIT_TILE_TOKENS = 1024  # tokens per LM-head tile when TRL / Unsloth compute GRPO log-probs chunked
SAMPLING_QUESTIONS = 8  # questions our own sampling (DPO pairs, eval) decodes at once
OVERHEAD_GPU_BYTES = int(0.8 * GIB)  # CUDA context + cuBLAS workspace, typical on recent drivers
ALLOCATOR_SLACK = 0.10  # fragmentation of PyTorch's caching allocator, as a fraction of the rest


@dataclass
class MemoryPlan:
    weights: int
    lora: int
    activations: int
    logits: int
    kv_cache: int
    scoring: int
    overhead: int

    @property
    def training(self) -> int:
        return self.activations + self.logits

    @property
    def total(self) -> int:
        return self.weights + self.lora + max(self.training, self.kv_cache, self.scoring) + self.overhead

    def as_gib(self) -> dict[str, float]:
        return {k: v / GIB for k, v in {**asdict(self), "total": self.total}.items()}


def plan_memory(cfg: ExpoConfig, dims: ModelDims | None = None, *, param_bytes: int = 2, on_gpu: bool = True,
                optimizer_bytes_per_param: int | None = None, chunked_logits: bool = True) -> MemoryPlan:
    """Predicted peak memory of one training step of `cfg`, split into parts (bytes).

    param_bytes: bytes per 16-bit weight/activation element (2 on GPU; 4 for float32 CPU runs).
    """
    d = dims or dims_for(cfg.model.name)
    t, a = cfg.train, cfg.algo
    quantized = cfg.model.use_4bit()
    weights = int(d.linear_params() * (NF4_BYTES_PER_PARAM if quantized else param_bytes)) + d.embedding_params() * param_bytes

    shapes = d.linear_shapes()
    lora_params = d.layers * sum(cfg.lora.r * (i + o) for name, (i, o) in shapes.items() if name in cfg.lora.target_modules)
    optim = optimizer_bytes_per_param if optimizer_bytes_per_param is not None else (2 if "8bit" in t.optim else 8)
    lora = lora_params * (4 + 4 + optim)  # fp32 params + fp32 grads + optimizer states

    # One optimizer micro-batch. GRPO: per_device_train_batch_size rollouts of prompt + completion.
    # DPO: each pair is two sequences (chosen, rejected) and TRL takes their logits.
    dpo = a.name == "exp_dpo"
    rows = t.per_device_train_batch_size * (2 if dpo else 1)
    completion = max(t.max_completion_length, cfg.explain.max_new_tokens) if dpo else t.max_completion_length
    tokens = rows * (t.max_prompt_length + completion)
    explains = a.positive_source == "self_explanation"
    positives = 0 if dpo or a.positive_source in (None, "none") else max(rows // a.num_generations, 1)
    positive_tokens = positives * (t.max_prompt_length + cfg.explain.max_new_tokens)  # the SFT forward
    if cfg.model.gradient_checkpointing:
        # the input of every layer is kept; one layer's internals are rebuilt during its backward
        per_layer_live = d.hidden * 10 + d.intermediate * 4 + d.heads * d.dh * 2
        activations = ((tokens + positive_tokens) * d.layers * d.hidden + max(tokens, positive_tokens) * per_layer_live) * param_bytes
    else:
        activations = (tokens + positive_tokens) * d.layers * (d.hidden * 10 + d.intermediate * 4) * param_bytes
    block_logits = LOGIT_BLOCK_TOKENS * d.vocab * 4 * 3  # one LM-head block: fp32 logits, exp, gradient
    if dpo:
        logits = tokens * d.vocab * 4 * 2
        questions = SAMPLING_QUESTIONS  # pair building samples this many questions at once
        sequences = questions * (a.num_generations + (cfg.explain.num_tries if explains else 0))
    else:
        # fp32 logits and their gradient over the completion positions. TRL >= 1.16 and Unsloth compute the
        # GRPO log-probs through the LM head in tiles (LOGIT_TILE_TOKENS at a time) instead of all at once.
        rollout_tokens = rows * t.max_completion_length
        logits = min(rollout_tokens, LOGIT_TILE_TOKENS if chunked_logits else rollout_tokens) * d.vocab * 4 * 2
        if positives:
            logits += block_logits  # the SFT term: blockwise, checkpointed
        # generation: the whole generation batch of rollouts, plus the self-explanation tries of its questions
        rollouts = t.per_device_train_batch_size * t.gradient_accumulation_steps
        sequences = rollouts + ((rollouts // a.num_generations) * cfg.explain.num_tries if explains else 0)
    kv_len = t.max_prompt_length + max(t.max_completion_length, cfg.explain.max_new_tokens)
    kv_cache = 2 * d.layers * d.kv_heads * d.dh * kv_len * sequences * param_bytes + sequences * d.vocab * 4
    # scoring (no grad): every layer's hidden states of one forward are returned, then LM-head blocks
    score_tokens = max(SCORING_TOKENS_PER_FORWARD, kv_len) if explains or dpo else 0
    scoring = (d.layers + 1) * score_tokens * d.hidden * param_bytes + (block_logits // 3 * 2 if score_tokens else 0)
    body = weights + lora + max(activations + logits, kv_cache, scoring)
    overhead = (OVERHEAD_GPU_BYTES if on_gpu else 0) + int(ALLOCATOR_SLACK * body)
    return MemoryPlan(weights, lora, activations, logits, kv_cache, scoring, overhead)


SUGGESTIONS = [
    ("logits", "lower train.max_completion_length or train.per_device_train_batch_size (logits are "
               "batch x completion x vocab x fp32)"),
    ("activations", "lower train.per_device_train_batch_size (raise gradient_accumulation_steps to keep the "
                    "batch) or keep model.gradient_checkpointing: true"),
    ("kv_cache", "lower train.gradient_accumulation_steps (TRL samples that many micro-batches at once), "
                 "algo.num_generations, explain.num_tries or the generation lengths"),
    ("scoring", "lower train.max_completion_length / explain.max_new_tokens (one scoring forward keeps every "
                "layer's hidden states)"),
    ("weights", "set model.load_in_4bit: true"),
    ("lora", "lower lora.r or use train.optim: adamw_8bit"),
]


def advice(plan: MemoryPlan, budget_gib: float) -> list[str]:
    """What to lower, biggest part first, when the plan does not fit `budget_gib`."""
    if plan.total <= budget_gib * GIB:
        return []
    parts = {"logits": plan.logits, "activations": plan.activations, "kv_cache": plan.kv_cache,
             "scoring": plan.scoring, "weights": plan.weights, "lora": plan.lora}
    phases = {"training": ("logits", "activations"), "generation": ("kv_cache",), "scoring": ("scoring",)}
    peak_phase = max(phases, key=lambda ph: sum(parts[k] for k in phases[ph]))
    for phase, keys in phases.items():  # only the phase that sets the peak is worth lowering
        if phase != peak_phase:
            for k in keys:
                parts[k] = 0
    order = sorted(parts, key=parts.get, reverse=True)
    text = dict(SUGGESTIONS)
    return [f"{name} ({parts[name] / GIB:.1f} GiB): {text[name]}" for name in order if parts[name] > 0][:3]


class GPUOutOfMemoryError(RuntimeError):
    """CUDA ran out of memory; the message says what the planner predicted and which knobs to lower."""


def gpu_total_gib() -> float | None:
    import torch

    return torch.cuda.get_device_properties(0).total_memory / GIB if torch.cuda.is_available() else None


def oom_message(cfg: ExpoConfig, gpu_gib: float | None, during: str) -> str:
    """The answer to a CUDA OOM: the predicted peak, the biggest parts with their knobs, and where to look.
    Even when the plan says it fits (fragmentation, a long outlier sample), the biggest parts are what to lower."""
    on = f" on this {gpu_gib:.0f} GiB GPU" if gpu_gib else ""
    lines = [f"CUDA out of memory {during}{on}."]
    try:
        plan = plan_memory(cfg)
    except ValueError as exc:  # a model whose dimensions the planner cannot read
        lines.append(f"(No memory plan for this model: {exc})")
        tips = [f"{name}: {text}" for name, text in SUGGESTIONS[:3]]
    else:
        verdict = "more than" if gpu_gib and plan.total > gpu_gib * GIB else "within"
        lines.append(f"The planner predicts a peak of {plan.total / GIB:.1f} GiB for this config"
                     + (f", {verdict} the {gpu_gib:.0f} GiB" if gpu_gib else "") + ".")
        tips = advice(plan, 0.0)  # budget 0: always the three biggest parts
    lines += ["Lower first:", *[f"  - {t}" for t in tips],
              "See every part with `expo-lite plan CONFIG`; PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True "
              "helps when memory is fragmented. The last checkpoint is kept; continue with --resume after lowering."]
    return "\n".join(lines)


def render_plan(cfg: ExpoConfig, plan: MemoryPlan, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()

    parts = Table(title=f"Predicted peak GPU memory: {cfg.model.name} ({'4-bit' if cfg.model.use_4bit() else '16-bit'})")
    parts.add_column("part")
    parts.add_column("GiB", justify="right")
    rows = [("weights", plan.weights), ("LoRA params + grads + optimizer", plan.lora),
            ("activations (training step)", plan.activations), ("logits (training step)", plan.logits),
            ("KV cache + logits (generation)", plan.kv_cache), ("hidden states + LM-head block (scoring)", plan.scoring),
            ("runtime overhead", plan.overhead)]
    for name, value in rows:
        parts.add_row(name, f"{value / GIB:.2f}")
    parts.add_row("peak = weights + LoRA + max(training, generation, scoring) + overhead", f"{plan.total / GIB:.2f}",
                  style="bold")
    console.print(parts)
    fit = Table(title="Fits on")
    fit.add_column("GPU")
    fit.add_column("fits")
    fit.add_column("lower first")
    for gib in (16, 24, 40, 80):
        tips = advice(plan, gib)
        fit.add_row(f"{gib} GB", "yes" if not tips else "[red]no[/red]", "\n".join(tips) or "-")
    console.print(fit)
