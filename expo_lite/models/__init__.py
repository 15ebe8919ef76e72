"""Layer 3, models: loading a causal LM with LoRA (Unsloth or transformers + peft, 4-bit), the embedded
offline model, and which dtype and mixed precision to use."""
