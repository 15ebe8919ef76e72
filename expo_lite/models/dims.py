"""A model's size, from its config.json values: what the memory planner computes with and what the memory
trace builds a weightless model from.

The dimensions of the shipped recipes' models are written here (from each model's config.json on the hub,
2024-09 releases) so that planning and tracing need no download; any other local model is read from its
own config.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelDims:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied_embeddings: bool
    head_dim: int | None = None
    model_type: str = "llama"  # the transformers architecture a trace builds ("llama" | "qwen2" | ...)

    @property
    def dh(self) -> int:
        return self.head_dim or self.hidden // self.heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each projection in one decoder layer."""
        q, kv = self.heads * self.dh, self.kv_heads * self.dh
        h, i = self.hidden, self.intermediate
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.linear_shapes().values())

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def hf_config(self) -> Any:
        """A transformers config of this shape (architecture `model_type`; values that do not change any
        tensor's size, such as rope settings and token ids, are transformers' defaults)."""
        from transformers import AutoConfig

        return AutoConfig.for_model(
            self.model_type, hidden_size=self.hidden, intermediate_size=self.intermediate,
            num_hidden_layers=self.layers, num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
            vocab_size=self.vocab, tie_word_embeddings=self.tied_embeddings, head_dim=self.dh,
            max_position_embeddings=32768)


# From each model's config.json on the hub, written here so planning needs no download.
PRESETS = {
    "Qwen/Qwen2.5-3B-Instruct": ModelDims(2048, 11008, 36, 16, 2, 151936, True, 128, "qwen2"),
    "meta-llama/Llama-3.2-3B-Instruct": ModelDims(3072, 8192, 28, 24, 8, 128256, True, 128, "llama"),
    "embedded:smollm2-135m": ModelDims(576, 1536, 30, 9, 3, 49152, True, 64, "llama"),
}
PRESETS["unsloth/Qwen2.5-3B-Instruct-bnb-4bit"] = PRESETS["Qwen/Qwen2.5-3B-Instruct"]
PRESETS["unsloth/Llama-3.2-3B-Instruct-bnb-4bit"] = PRESETS["meta-llama/Llama-3.2-3B-Instruct"]
PRESETS["unsloth/Qwen2.5-3B-Instruct"] = PRESETS["Qwen/Qwen2.5-3B-Instruct"]
PRESETS["unsloth/Llama-3.2-3B-Instruct"] = PRESETS["meta-llama/Llama-3.2-3B-Instruct"]


def dims_for(name: str) -> ModelDims:
    if name in PRESETS:
        return PRESETS[name]
    config = Path(name).expanduser() / "config.json"
    if not config.is_file():
        raise ValueError(f"plan: no preset for {name!r} and no {config}; known: {', '.join(sorted(PRESETS))}")
    c = json.loads(config.read_text())
    c = c.get("text_config", c)
    return ModelDims(c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"],
                     c.get("num_key_value_heads", c["num_attention_heads"]), c["vocab_size"],
                     bool(c.get("tie_word_embeddings", False)), c.get("head_dim"), c.get("model_type", "llama"))
