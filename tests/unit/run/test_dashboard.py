"""The live dashboard (rendered to a recording console) and the plain one-line-per-step logger."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from expo_lite.algorithms.explain import Explanation
from expo_lite.algorithms.grpo import ExPGRPOConfig, ExPGRPOTrainer
from expo_lite.config import ExpoConfig, load_config
from expo_lite.data.tasks import load_task
from expo_lite.models.loader import load_model
from expo_lite.recipes.train import build_prompt_dataset, use_dashboard
from expo_lite.run.callbacks import MetricsLogger, StepProgress
from expo_lite.run.dashboard import Dashboard, DashboardState, render, sparkline
from expo_lite.run.rundir import create_run_dir
from expo_lite.verify.answers import correctness_reward

from helpers import CPU_ARGS


def text_of(renderable, width=120) -> str:
    console = Console(record=True, width=width, force_terminal=True)
    console.print(renderable)
    return console.export_text()


def test_render_shows_every_panel_with_live_values():
    state = DashboardState(header={"algo": "exp_grpo", "model": "tiny", "backend": "hf", "device": "CPU x2"},
                           step=2, max_steps=4, rewards=[0.0, 0.25], tokens_per_s=123.4, memory="1.2 GiB RSS")
    state.metrics = {"reward": 0.25, "rewards/correctness/mean": 0.25, "expo/all_wrong_frac": 0.5,
                     "expo/explain_valid_rate": 0.75, "expo/sft_loss": 0.812, "expo/sft_beta": 0.04,
                     "learning_rate": 5e-5, "loss": 0.0321}
    state.latest = {"question": "Tom has 3 apples.", "text": "3 + 4 = 7\n#### 7", "verdict": "valid"}
    out = text_of(render(state))
    for needle in ("algo: exp_grpo", "backend: hf", "device: CPU x2", "step 2/4", "ETA",
                   "all-wrong groups", "50%", "explanations valid", "75%", "L_SFT", "0.812", "sft_beta", "0.04",
                   "accuracy", "25.0%", "tokens/s", "123", "memory", "1.2 GiB RSS", "lr", "5.00e-05",
                   "reward over steps", "last 0.250", "Q: Tom has 3 apples.", "#### 7", "verdict: valid"):
        assert needle in out, f"{needle!r} missing from:\n{out}"


def test_sparkline_scales_to_its_range():
    assert sparkline([0.0, 0.5, 1.0]) == "▁▄█"
    assert sparkline([]) == "" and len(sparkline([1.0] * 100, width=40)) == 40


@pytest.fixture
def tiny_trainer(tiny_llama, tmp_path):
    def make(callbacks, on_explanations=None):
        cfg = ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "hf"},
                                         "task": {"levels": [1], "num_problems": 4}})
        model, tok = load_model(cfg)
        data, _ = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tok)
        args = ExPGRPOConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4,
                             num_generations=2, max_completion_length=4, logging_steps=1, disable_tqdm=True, **CPU_ARGS)
        from expo_lite.config import ExplainConfig

        return ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data,
                              processing_class=tok, callbacks=callbacks, on_explanations=on_explanations,
                              explain_config=ExplainConfig(num_tries=1, max_new_tokens=4))
    return make


def test_dashboard_follows_a_real_training_run(tiny_trainer):
    console = Console(record=True, width=120, force_terminal=True)
    dashboard = Dashboard({"algo": "exp_grpo", "model": "tiny", "backend": "hf", "device": "cpu"}, console=console)
    trainer = tiny_trainer([dashboard], on_explanations=dashboard.show_explanations)
    trainer.train()
    out = console.export_text()
    assert "step 2/2" in out and "all-wrong groups" in out and "100%" in out
    assert "rejected: " in out  # the tiny random model never writes a valid explanation
    assert dashboard.state.rewards == [0.0, 0.0] and dashboard.live is None


def test_plain_mode_prints_one_parseable_line_per_step(tiny_trainer, tmp_path):
    console = Console(record=True, width=80)  # narrow, not a terminal: lines must still not wrap
    run = create_run_dir(load_config(None, [f"train.output_dir={tmp_path}"]))
    trainer = tiny_trainer([MetricsLogger(run, console)])
    trainer.train()
    lines = [ln for ln in console.export_text().splitlines() if ln.strip()]
    assert len(lines) == 2
    parsed = []
    for line in lines:
        assert re.fullmatch(r"step=\d+/\d+( [a-z_]+=\S+)+", line), line
        parsed.append(dict(kv.split("=") for kv in line.split()))
    assert [p["step"] for p in parsed] == ["1/2", "2/2"]
    records = [json.loads(x) for x in run.metrics_path.read_text().splitlines()]
    assert float(parsed[0]["all_wrong"]) == records[0]["expo/all_wrong_frac"] == 1.0
    assert float(parsed[1]["reward"]) == pytest.approx(records[1]["reward"], abs=1e-3)


def test_dashboard_only_on_a_terminal_outside_ci(monkeypatch):
    cfg = ExpoConfig()
    monkeypatch.delenv("CI", raising=False)
    assert use_dashboard(cfg.log, Console(force_terminal=True))
    assert not use_dashboard(cfg.log, Console(force_terminal=False, force_jupyter=False))
    monkeypatch.setenv("CI", "true")
    assert not use_dashboard(cfg.log, Console(force_terminal=True))
    monkeypatch.delenv("CI")
    cfg.log.tui = False
    assert not use_dashboard(cfg.log, Console(force_terminal=True))


def test_show_explanations_prefers_a_valid_one():
    dash = Dashboard({"algo": "a"}, console=Console(record=True))
    dash.show_explanations([Explanation("1", "q1", "1", 1, False, "leak"), Explanation("2", "q2", "2", 1, True, "ok", text="t")])
    assert dash.state.latest == {"question": "q2", "text": "t", "verdict": "valid"}


def test_plain_mode_says_when_each_step_starts_and_warns_after_a_cut_off_or_zero_gradient_step(tiny_trainer, tmp_path):
    """A step is announced when it starts (nothing else is printed until it ends), and a step whose completions
    were all cut off, or whose gradient was zero, is followed by a warning - exactly when its metrics say so."""
    console = Console(record=True, width=80)
    run = create_run_dir(load_config(None, [f"train.output_dir={tmp_path}"]))
    progress = StepProgress(console, "sampling 2 completions for each of 2 prompts", max_completion_length=4)
    tiny_trainer([MetricsLogger(run, console), progress]).train()
    lines = [ln for ln in console.export_text().splitlines() if ln.strip()]
    records = [r for r in map(json.loads, run.metrics_path.read_text().splitlines()) if "grad_norm" in r]
    expected = []
    for r in records:
        expected += [f"step {r['step']}/2 started: sampling 2 completions for each of 2 prompts", f"step={r['step']}/2 "]
        if r["completions/clipped_ratio"] == 1.0:
            expected.append(f"warning: step {r['step']}: every completion was cut off at train.max_completion_length=4")
        if r["grad_norm"] == 0.0:
            expected.append(f"warning: step {r['step']}: the gradient was zero, the step changed nothing: every "
                            f"group's rollouts got the same reward (zero_std 1.00) and no self-explanation was valid")
    assert len(lines) == len(expected) and all(ln.startswith(e) for ln, e in zip(lines, expected, strict=True)), lines
    # 4 new tokens from a random model never end a turn, and all-wrong groups with no positive give no gradient
    assert progress.warned == {"clipped": 2, "zero_gradient": 2}
