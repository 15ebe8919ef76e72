"""Unsloth's configs force `gradient_checkpointing_kwargs={'use_reentrant': True}` (we ask for False). Whatever
checkpointing each trainer ends up running, the LoRA gradients of a step must be those of the same step without
checkpointing - in particular no layer may lose its gradient (reentrant checkpointing drops it when no input of
the checkpointed block requires grad)."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from expo_lite.data.tasks import load_task
from expo_lite.models.loader import load_model
from expo_lite.recipes.dpo import train_exp_dpo
from expo_lite.run.rundir import create_run_dir
from expo_lite.testing import contract


class FirstStepGradients(TrainerCallback):
    def __init__(self):
        self.grads: dict[str, torch.Tensor | None] | None = None
        self.modes: set = set()

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.grads is None:
            self.grads = {n: None if p.grad is None else p.grad.detach().clone()
                          for n, p in model.named_parameters() if p.requires_grad}
            inner = model.get_base_model() if hasattr(model, "get_base_model") else model
            for module in inner.modules():
                fn = getattr(module, "_gradient_checkpointing_func", None)
                if fn is not None and getattr(module, "gradient_checkpointing", False):
                    self.modes.add(getattr(fn, "keywords", {}).get("use_reentrant"))


def first_step(lane_config, tmp_path, checkpointing: bool, algo: str):
    cfg = lane_config(f"model.gradient_checkpointing={str(checkpointing).lower()}", f"algo.name={algo}", "algo.sft_beta=0.5",
                      "train.max_steps=1", f"train.run_name=run-{checkpointing}", "train.per_device_train_batch_size=4"
                      if algo != "exp_dpo" else "train.per_device_train_batch_size=2",
                      *(["algo.positive_source=expert_cot", "task.num_problems=2"] if algo == "exp_dpo" else []))
    model, tok = load_model(cfg)
    torch.manual_seed(0)
    for name, p in model.named_parameters():  # non-zero LoRA B: every LoRA matrix gets a gradient
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    seen = FirstStepGradients()
    if algo == "exp_dpo":
        train_exp_dpo(cfg, create_run_dir(cfg), model, tok, load_task(cfg.task).problems, "hash", callbacks=[seen])
    else:
        trainer = contract.make_trainer(cfg, model, tok, tmp_path / str(checkpointing), contract.alternating_reward)
        trainer.add_callback(seen)
        trainer.train()
    return seen


@pytest.mark.parametrize("algo", ["grpo_sft_gt", "exp_dpo"])
def test_checkpointed_gradients_equal_the_uncheckpointed_ones(lane_config, tmp_path, algo):
    on = first_step(lane_config, tmp_path, True, algo)
    off = first_step(lane_config, tmp_path, False, algo)
    assert on.modes and not off.modes, (on.modes, off.modes)  # checkpointing really ran in one run only
    assert on.grads and set(on.grads) == set(off.grads)
    missing = [n for n, g in on.grads.items() if g is None or not g.abs().sum()]
    assert not missing, missing
    for name, g in on.grads.items():
        torch.testing.assert_close(g, off.grads[name], rtol=1e-5, atol=1e-7)
    print(f"{algo}: checkpointing ran with use_reentrant={sorted(on.modes, key=str)}")
