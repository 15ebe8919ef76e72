"""`expo-lite merge`: the merged standalone model computes what base + adapter computed."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import load_config
from expo_lite.models.loader import load_model
from expo_lite.run.rundir import create_run_dir


def save_a_trained_looking_adapter(model, tokenizer, run):
    """Give LoRA's B matrices weights (they start at zero, which would merge into nothing), save the adapter in the
    run, and return (input ids, the adapted model's logits on them)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.save_pretrained(str(run.adapter_path))
    ids = tokenizer(["a b c d e"], return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        return ids, model(input_ids=ids).logits


def test_merge_gives_the_adapted_model(tiny_llama, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = load_config(None, [f"model.name={tiny_llama}", "model.backend=hf", "model.load_in_4bit=false",
                             f"train.output_dir={tmp_path}", "train.run_name=r", "lora.r=4"])
    run = create_run_dir(cfg)
    model, tokenizer = load_model(cfg)
    ids, adapted = save_a_trained_looking_adapter(model, tokenizer, run)
    with torch.no_grad(), model.disable_adapter():
        base = model(input_ids=ids).logits
    assert (adapted - base).abs().max() > 1e-2  # the adapter really changes the output

    result = CliRunner().invoke(app, ["merge", str(run.path), "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    merged_dir = run.path / "merged"
    assert not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        out = merged(input_ids=ids).logits
    torch.testing.assert_close(out, adapted, atol=1e-4, rtol=1e-4)
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template == tokenizer.chat_template

    again = CliRunner().invoke(app, ["merge", str(run.path)])  # never writes over an existing export
    assert again.exit_code == 2 and "not empty" in again.output


def test_merge_from_a_base_shipped_in_4bit_gives_a_16bit_model_that_computes_what_training_did(tiny_llama, tmp_path):
    """A pre-quantized base (bnb 4-bit in its config.json, as `unsloth/...-bnb-4bit` ships): the merge dequantizes it
    and adds the adapter at full precision; the saved model is unquantized, loads without bitsandbytes' config, computes
    what the 4-bit base + adapter computed, and generates."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    base4 = tmp_path / "base-bnb-4bit"
    AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32, quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)).save_pretrained(base4)
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(base4)  # a hub repo holds its tokenizer too
    cfg = load_config(None, [f"model.name={base4}", "model.backend=hf", "model.load_in_4bit=true",
                             f"train.output_dir={tmp_path}", "train.run_name=r", "lora.r=4"])
    run = create_run_dir(cfg)
    model, tokenizer = load_model(cfg)
    assert "Linear4bit" in type(model.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__
    ids, adapted = save_a_trained_looking_adapter(model, tokenizer, run)

    result = CliRunner().invoke(app, ["merge", str(run.path), "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    merged_dir = run.path / "merged"
    assert "quantization_config" not in (merged_dir / "config.json").read_text()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert type(merged.model.layers[0].self_attn.q_proj).__name__ == "Linear"
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, adapted, atol=1e-4, rtol=1e-4)
        generated = merged.generate(ids, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 4


def test_merge_without_adapter_is_refused(tmp_path):
    cfg = load_config(None, [f"train.output_dir={tmp_path}", "train.run_name=r"])
    run = create_run_dir(cfg)
    result = CliRunner().invoke(app, ["merge", str(run.path)])
    assert result.exit_code == 2 and "holds no saved adapter" in result.output
