"""`expo-lite plan`: predict the peak GPU memory of a config before renting the GPU.

    peak = resident: weights (4-bit base, embeddings, LoRA adapters) + optimizer states
         + max(training: LoRA gradients + saved activations + one layer rebuilt or the LM head,
               generation: the prompts' prefill, or every row's KV cache at full length,
               scoring: one no-grad forward's hidden states + one layer, or one LM-head block)
         + overhead: what a trace cannot see (CUDA context, allocator rounding and fragmentation)

It models the hf backend's stock path, the one `expo-lite plan --trace` (tools/memory_trace.py) runs on fake
tensors, and each term is what that trace finds live at the phase's peak, written as a formula of the model's
dimensions and the config. The suite holds every phase within 10% of the trace on scaled-down shapes
(tests/unit/run/test_planner_vs_trace.py); the README's 3B table shows both. Unsloth's kernels are documented to
hold less than this path, so for Unsloth users the plan errs high; no GPU has measured either yet.

What the trace taught the formulas (the hf backend, bf16 compute on a GPU):
* peft's k-bit preparation makes the embeddings (and every other unquantized weight) fp32, so with a 4-bit
  model the residual stream, each checkpointed layer input and the KV cache are fp32: activations are
  `act_bytes` = 4 bytes, not 2. The 16-bit path keeps bf16 activations but runs its fp32 LoRA adapters on fp32
  copies. TRL casts trainable adapters of a quantized model to bf16; DPO's frozen reference adapter stays fp32.
* The GRPO loss (TRL >= 1.15) pushes the completions through the LM head in tiles of TRL_TILE_TOKENS tokens x
  TRL_TILE_VOCAB vocabulary columns (one bf16 buffer of that size whatever the vocabulary), so the logits are
  never whole; at 3B sizes one rebuilt decoder layer is larger.
* The SFT term's graph is built after the GRPO loss's, so its backward runs first; its peak is the GRPO graph's
  saved tensors plus the positives' own layer or LM-head block.
* transformers' `generate` peaks either in the prompts' prefill (one layer's MLP over every prompt token) or in the
  last decoding step (every row's KV cache at full length, one layer's K or V copied once more as it grows).

Each part is a closed formula; `plan_memory` returns them separately so the fit table can say which knob to
lower. Model dimensions come from models/dims.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import ceil

from ..config import ExpoConfig, ModelConfig, apply_overrides
from ..core.logprobs import LOGIT_BLOCK_TOKENS, SCORING_TOKENS_PER_FORWARD
from ..models.dims import ModelDims, dims_for

GIB = 2**30

NF4_BYTES_PER_PARAM = (4 + 8 / 64 + 32 / (64 * 256)) / 8  # 4-bit codes + double-quantized absmax per 64
COMPUTE_BYTES = 2  # bf16 / fp16: the autocast dtype of a GPU run, and the weights of a 16-bit model
TRL_TILE_TOKENS = 4096  # trl/kernels/chunked_logprob.py TOKEN_CHUNK_SIZE (a test checks the installed TRL)
TRL_TILE_VOCAB = 32768  # trl/trainer/utils.py _CHUNKED_LOGPROB_CHUNK_SIZE
BNB_MIN_8BIT_SIZE = 4096  # bitsandbytes' 8-bit optimizers keep fp32 states for tensors smaller than this
BNB_BLOCK = 256  # ... and one fp32 absmax per block of this many 8-bit states
OVERHEAD_GPU_BYTES = int(0.8 * GIB)  # CUDA context + cuBLAS workspace, typical on recent drivers
ALLOCATOR_SLACK = 0.10  # rounding and fragmentation of PyTorch's caching allocator, as a fraction of the rest


@dataclass
class MemoryPlan:
    weights: int  # base model, 4-bit states, embeddings and norms, LoRA adapters (+ DPO's reference adapter)
    optimizer: int  # optimizer states of the adapters
    gradients: int  # the adapters' gradients (training phase)
    activations: int  # training: saved activations + the rebuilt layer (or the positives' own forward)
    logits: int  # training: what the LM head adds when it, not a layer, sets the peak
    kv_cache: int  # generation: prefill or the KV cache at full length
    scoring: int  # no-grad scoring of explanation tries / DPO sides
    overhead: int

    @property
    def training(self) -> int:
        return self.gradients + self.activations + self.logits

    @property
    def resident(self) -> int:
        return self.weights + self.optimizer

    @property
    def total(self) -> int:
        return self.resident + max(self.training, self.kv_cache, self.scoring) + self.overhead

    def as_gib(self) -> dict[str, float]:
        return {k: v / GIB for k, v in {**asdict(self), "training": self.training, "total": self.total}.items()}


@dataclass(frozen=True)
class _PerToken:
    """Bytes per token of the transient tensors the trace finds at each peak, for one precision path.
    layer: one decoder layer rebuilt in a checkpointed backward (beyond its saved input);
    saved: what one layer keeps for backward without checkpointing; prefill / score: one layer of a no-grad
    forward (prefill also holds its rotary tables); act: bytes of an activation element."""

    act: int
    layer: int
    saved: int
    prefill: int
    score: int
    block: int  # bytes per LM-head logit in a scoring block (fp32; bf16 + fp32 copy on the 16-bit path)


def _per_token(d: ModelDims, mcfg: ModelConfig, r: int) -> _PerToken:
    H, F, c = d.hidden, d.intermediate, COMPUTE_BYTES  # F: the MLP's intermediate width
    if mcfg.use_4bit():
        a = 4  # fp32 residual stream (peft's k-bit preparation upcasts the embeddings)
        # rebuilt layer: residual + attention output (a), gate/up outputs, their LoRA sums, the activation (6 F a),
        # the bf16 copies of the normed inputs autocast makes and the attention output (7 H c), LoRA's r-wide inputs
        return _PerToken(a, layer=2 * H * a + 6 * F * a + 7 * H * c + 6 * r * c,
                         saved=3 * F * a + F * c + 2 * H * a + 7 * H * c + 13 * r * c,
                         prefill=4 * F * a + 4 * H * a + H * c + 2 * d.dh * a,
                         score=4 * F * a + H * c, block=4)
    # bf16 activations, but peft keeps the adapters fp32: each adapted projection reads an fp32 copy of its input
    # and adds an fp32 output to the bf16 one (the 4- and 8-byte terms: F and H counted op by op at the peak)
    a = c
    return _PerToken(a, layer=2 * H * a + 30 * H + 14 * F + 7 * r * c,
                     saved=4 * F * c + H * (8 * c + 8) + 13 * r * c,
                     prefill=12 * F + 4 * H * c + 4 * H + 2 * d.dh * c,
                     score=12 * F + 4 * H, block=c + 4)


def _lora_matrices(d: ModelDims, cfg: ExpoConfig) -> list[int]:
    """Element counts of every LoRA A and B matrix."""
    r = cfg.lora.r
    one_layer = [n for name, (i, o) in d.linear_shapes().items() if name in cfg.lora.target_modules for n in (r * i, r * o)]
    return one_layer * d.layers


def _optimizer_bytes(matrices: list[int], optim: str, param_bytes: int) -> int:
    if "8bit" in optim:  # two 8-bit states + block absmax; small tensors keep two fp32 states
        return int(sum(n * 8 if n < BNB_MIN_8BIT_SIZE else n * 2 * (1 + 4 / BNB_BLOCK) for n in matrices))
    if "32bit" in optim:  # bitsandbytes' 32-bit (paged) optimizers
        return sum(matrices) * 8
    return sum(matrices) * 2 * param_bytes  # torch's AdamW: two states in the parameters' dtype


def plan_memory(cfg: ExpoConfig, dims: ModelDims | None = None, *, on_gpu: bool = True) -> MemoryPlan:
    """Predicted peak memory of one training step of `cfg`, split into parts (bytes)."""
    d = dims or dims_for(cfg.model.name)
    t, algo, e = cfg.train, cfg.algo, cfg.explain
    L, H, V, c = d.layers, d.hidden, d.vocab, COMPUTE_BYTES
    quantized = cfg.model.use_4bit()
    tok = _per_token(d, cfg.model, cfg.lora.r)
    a = tok.act
    dpo = algo.name == "exp_dpo"

    matrices = _lora_matrices(d, cfg)
    adapter = sum(matrices)
    adapter_bytes = 2 if quantized else 4  # TRL casts a quantized model's adapters to bf16; peft keeps fp32
    norms = (2 * L + 1) * H + (L * (d.heads + 2 * d.kv_heads) * d.dh if d.model_type == "qwen2" else 0)  # + qkv bias
    weights = int(d.linear_params() * (NF4_BYTES_PER_PARAM if quantized else c)
                  + (d.embedding_params() + norms) * (4 if quantized else c)
                  + adapter * adapter_bytes + (adapter * 4 if dpo else 0))  # DPO: TRL's frozen fp32 "ref" copy
    optimizer = _optimizer_bytes(matrices, t.optim, adapter_bytes)
    gradients = adapter * adapter_bytes

    def lm_head(n: int, scored: int) -> int:
        """TRL's chunked log-probs over `scored` of `n` tokens: the final norm's input and output, the scored
        hidden states and their fp32 gradient, one tile (+ its hidden rows) and one bf16 vocabulary chunk."""
        tile = min(scored, TRL_TILE_TOKENS)
        return 2 * n * H * a + 2 * scored * H * a + tile * (TRL_TILE_VOCAB + H) * c + min(V, TRL_TILE_VOCAB) * H * c

    def generation(rows: int, prompt: int, new: int) -> int:
        width = prompt + new - 1  # tokens in each row when its last token is sampled
        kv_token = 2 * L * d.kv_heads * d.dh * a
        prefill = rows * prompt * (kv_token + tok.prefill)
        last = rows * width * kv_token * (1 + 1 / (2 * L)) + rows * width * 8 * 4  # + attention masks (int64)
        return int(max(prefill, last))

    def scoring(rows: int, width: int, completion: int) -> int:
        n = min(rows, max(1, SCORING_TOKENS_PER_FORWARD // width))  # rows per forward
        s, scored = n * width, n * completion
        layer = s * ((L + 2) * H * a + tok.score)  # every layer's hidden state is returned, + one layer's MLP
        block = s * H * a + scored * H * a + min(scored, LOGIT_BLOCK_TOKENS) * V * tok.block
        return int(max(layer, block))

    saved, rebuilt = (L * H * a, tok.layer) if cfg.model.gradient_checkpointing else (L * tok.saved, 0)
    p, b, g = t.max_prompt_length, t.per_device_train_batch_size, algo.num_generations
    explains = algo.positive_source == "self_explanation"
    if dpo:  # one micro-batch of pairs: chosen and rejected rows at the longest pair length
        length = min(p + max(t.max_completion_length, e.max_new_tokens), cfg.model.max_seq_length)
        n, scored = 2 * b * length, 2 * b * (length - p)
        activations = n * saved + n * rebuilt
        logits = max(0, n * saved + lm_head(n, scored) - activations)
        chunk = algo.pair_chunk_questions  # pair building decodes one chunk of questions at a time
        tries = chunk * e.num_tries if explains else 0
        new = max(t.max_completion_length, e.max_new_tokens if tries else 0)
        kv_cache = generation(chunk * g + tries, p, new)
        sides = scoring(2 * chunk, p + t.max_completion_length, t.max_completion_length)
        score = max(sides, scoring(tries, p + e.max_new_tokens, e.max_new_tokens) if tries else 0)
    else:  # one micro-batch of rollouts, plus the SFT term on its share of the positives
        n, scored = b * (p + t.max_completion_length), b * t.max_completion_length
        positives = 0 if algo.positive_source in (None, "none") else ceil(b / g)
        n_pos = positives * (p + e.max_new_tokens)
        own_layers = n * saved + n * rebuilt
        own = n * saved + max(n * rebuilt, lm_head(n, scored))
        # the SFT term's LM-head block, rebuilt in its backward: fp32 logits, their shift, exp and gradient (+ the
        # bf16 copy of the fp32 LM head autocast makes on the 4-bit path)
        block = min(positives * e.max_new_tokens, LOGIT_BLOCK_TOKENS) * V * 4 * 4 + (V * H * c if quantized else 0)
        sft_layers = (n + n_pos) * saved + scored * H * a + n_pos * rebuilt
        sft = (n + n_pos) * saved + scored * H * a + max(n_pos * rebuilt, block) if positives else 0
        activations = sft_layers if positives and sft > own else own_layers
        logits = max(own, sft) - activations
        rollouts = b * t.gradient_accumulation_steps  # one generation batch (steps_per_generation = accumulation)
        tries = rollouts // g * e.num_tries if explains else 0
        kv_cache = generation(rollouts + tries, p, max(t.max_completion_length, e.max_new_tokens if tries else 0))
        score = scoring(tries, p + e.max_new_tokens, e.max_new_tokens) if tries else 0
    body = weights + optimizer + max(gradients + activations + logits, kv_cache, score)
    overhead = (OVERHEAD_GPU_BYTES if on_gpu else 0) + int(ALLOCATOR_SLACK * body)
    return MemoryPlan(weights, optimizer, gradients, activations, logits, kv_cache, score, overhead)


SIZE_GROUPS = (4, 8, 16)
SIZE_LENGTHS = (512, 1024, 2048)
FIT_BUDGETS_GIB = (16, 24, 40)


def resized(cfg: ExpoConfig, group: int, length: int) -> ExpoConfig:
    """`cfg` with one prompt's group per micro-batch (batch = G = `group`) and rollouts and explanations `length`
    tokens long: the rows of `expo-lite plan --sizes` and of the README's traced table."""
    sets = [f"algo.num_generations={group}", f"train.per_device_train_batch_size={group}",
            f"train.max_completion_length={length}", f"explain.max_new_tokens={length}",
            f"model.max_seq_length={cfg.train.max_prompt_length + length}"]
    return ExpoConfig.model_validate(apply_overrides(cfg.model_dump(), sets))


def render_sizes(cfg: ExpoConfig, console=None) -> None:
    """The planner's peak of `cfg` at each group size and length (GRPO recipes), with the 16 / 24 / 40 GB fit."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    # no rules, two spaces between columns: eight columns fit 80 (a pipe, a narrow terminal) with every header whole
    table = Table(title=f"Predicted peak at other sizes: {cfg.model.name}, {cfg.algo.name} (batch = G, "
                        "explanations as long as completions, overhead included)", title_justify="left", box=None,
                  pad_edge=False, padding=(0, 0, 0, 2), header_style="bold")
    for name in ("G", "completion", "peak GiB", "peak phase", *(f"{gib} GB" for gib in FIT_BUDGETS_GIB)):
        table.add_column(name, justify="right", no_wrap=True)
    for group in SIZE_GROUPS:
        for length in SIZE_LENGTHS:
            plan = plan_memory(resized(cfg, group, length))
            phases = {"training": plan.training, "generation": plan.kv_cache, "scoring": plan.scoring}
            table.add_row(str(group), str(length), f"{plan.total / GIB:.1f}", max(phases, key=phases.get),
                          *("yes" if plan.total <= gib * GIB else "[red]no[/red]" for gib in FIT_BUDGETS_GIB))
    console.print(table)


SUGGESTIONS = [
    ("logits", "lower train.per_device_train_batch_size or train.max_completion_length (the LM head's tiles and "
               "the scored hidden states grow with batch x completion)"),
    ("activations", "lower train.per_device_train_batch_size (raise gradient_accumulation_steps to keep the "
                    "batch) or keep model.gradient_checkpointing: true"),
    ("kv_cache", "lower train.gradient_accumulation_steps (GRPO: TRL samples that many micro-batches at once) or "
                 "algo.pair_chunk_questions (DPO), algo.num_generations, explain.num_tries or the lengths"),
    ("scoring", "lower train.max_completion_length / explain.max_new_tokens (one scoring forward keeps every "
                "layer's hidden states)"),
    ("weights", "set model.load_in_4bit: true (or lower lora.r)"),
    ("optimizer", "use train.optim: adamw_8bit or lower lora.r"),
]


def advice(plan: MemoryPlan, budget_gib: float) -> list[str]:
    """What to lower, biggest part first, when the plan does not fit `budget_gib`."""
    if plan.total <= budget_gib * GIB:
        return []
    parts = {"logits": plan.logits, "activations": plan.activations, "kv_cache": plan.kv_cache,
             "scoring": plan.scoring, "weights": plan.weights, "optimizer": plan.optimizer}
    phases = {"training": ("logits", "activations"), "generation": ("kv_cache",), "scoring": ("scoring",)}
    sizes = {"training": plan.training, "generation": plan.kv_cache, "scoring": plan.scoring}
    peak_phase = max(sizes, key=sizes.get)
    for phase, keys in phases.items():  # only the phase that sets the peak is worth lowering
        if phase != peak_phase:
            for k in keys:
                parts[k] = 0
    order = sorted(parts, key=parts.get, reverse=True)
    text = dict(SUGGESTIONS)
    return [f"{name} ({parts[name] / GIB:.1f} GiB): {text[name]}" for name in order if parts[name] > 0][:3]


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
    rows = [("weights (base, embeddings, LoRA adapters)", plan.weights), ("optimizer states", plan.optimizer),
            ("training: LoRA gradients", plan.gradients), ("training: activations", plan.activations),
            ("training: LM head beyond them", plan.logits), ("generation: prefill or KV cache", plan.kv_cache),
            ("scoring: hidden states + a layer or LM-head block", plan.scoring),
            ("overhead: CUDA context + allocator", plan.overhead)]
    for name, value in rows:
        parts.add_row(name, f"{value / GIB:.2f}")
    parts.add_row("peak = weights + optimizer + max(training, generation, scoring) + overhead",
                  f"{plan.total / GIB:.2f}", style="bold")
    console.print(parts)
    fit = Table(title="Fits on")
    fit.add_column("GPU")
    fit.add_column("fits")
    fit.add_column("lower first")
    for gib in (16, 24, 40, 80):
        tips = advice(plan, gib)
        fit.add_row(f"{gib} GB", "yes" if not tips else "[red]no[/red]", "\n".join(tips) or "-")
    console.print(fit)
