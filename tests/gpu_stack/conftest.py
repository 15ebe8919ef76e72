"""The GPU user's stack lane (`make test-gpu-stack`): TRL 1.15 with Unsloth's generated trainers, on this CPU.

Only that command runs these tests (it sets EXPO_LITE_GPU_STACK=1 and uses the lane's venv, whose TRL is
1.15); the main suite (`make test`, TRL 1.16, stock classes) leaves this folder out. The stack is built here,
before any test module imports TRL (stack.py), and the two stand-ins for what needs a GPU are installed
(stand_ins.py); everything else is the code GPU users run.
"""

from __future__ import annotations

import os

if os.environ.get("EXPO_LITE_GPU_STACK") != "1":
    collect_ignore_glob = ["*"]  # not the main suite's: `make test-gpu-stack` runs this folder
else:
    from stack import build_gpu_user_stack
    from stand_ins import install_all

    VERSIONS = build_gpu_user_stack()
    install_all()

    def pytest_report_header(config):
        return f"GPU-user stack on CPU: {VERSIONS}, Unsloth's generated trainers"

    import pytest

    @pytest.fixture
    def lane_config(tiny_qwen2, tmp_path):
        """An ExpoConfig for the lane: the tiny random Qwen2, backend unsloth (FastLanguageModel's stand-in),
        4-bit as GPU users train, 2 prompts x 2 rollouts per step, short lengths. Extra --set overrides."""
        from expo_lite.config import load_config

        def make(*overrides: str):
            return load_config(None, [
                f"model.name={tiny_qwen2}", "model.backend=unsloth", "model.load_in_4bit=true", "model.max_seq_length=512",
                "lora.r=4", "lora.alpha=8", "task.name=arithmetic", "task.levels=[1]", "task.num_problems=8",
                "algo.num_generations=2", "train.per_device_train_batch_size=4", "train.max_completion_length=8",
                "train.max_prompt_length=256", "explain.max_new_tokens=8", "explain.num_tries=1",
                "explain.min_reasoning_tokens=0", "train.save_steps=1000", "train.logging_steps=1",
                "train.learning_rate=1e-2", "train.max_steps=2", f"train.output_dir={tmp_path / 'runs'}", "log.tui=false",
                *overrides])

        return make
