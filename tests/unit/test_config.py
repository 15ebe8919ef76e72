"""Config system: YAML -> pydantic, --set overrides, and errors that name the offending key."""

from __future__ import annotations

import pytest
import yaml

from expo_lite.config import ConfigError, ExpoConfig, load_config, parse_override, recipe_file, recipe_names


def write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_embedded_demo():
    cfg = ExpoConfig()
    assert cfg.model.name == "embedded:smollm2-135m"
    assert cfg.task.name == "arithmetic"
    assert cfg.algo.name == "exp_grpo"
    assert cfg.algo.positive_source == "self_explanation"


EXPO_CONFIGS = [recipe_file(name) for name in recipe_names()]  # accelerate/ holds accelerate's, not ours


@pytest.mark.parametrize("path", EXPO_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg.train.max_steps > 0
    assert cfg.train.run_name in ("demo", path.stem) or cfg.train.run_name.startswith(path.stem.split("-")[0])


def test_shipped_baselines_differ_from_their_base_only_in_algorithm():
    base = load_config("qwen2.5-3b")
    level5 = load_config("qwen2.5-3b-math-l5")
    grpo = load_config("qwen2.5-3b-grpo")
    sft_gt = load_config("qwen2.5-3b-grpo-sft-gt")
    assert level5.task.levels == [5] and level5.algo == base.algo and level5.model == base.model
    assert grpo.algo.positive_source == "none" and sft_gt.algo.positive_source == "expert_cot"
    assert grpo.train.learning_rate == base.train.learning_rate == sft_gt.train.learning_rate
    assert grpo.algo.sft_beta == sft_gt.algo.sft_beta == base.algo.sft_beta == 0.04


def test_base_key_merges_and_reports_problems(tmp_path):
    (tmp_path / "parent.yaml").write_text("train:\n  max_steps: 7\n  learning_rate: 0.1\nlora:\n  r: 4\n")
    (tmp_path / "child.yaml").write_text("base: parent.yaml\ntrain:\n  max_steps: 9\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.train.max_steps, cfg.train.learning_rate, cfg.lora.r) == (9, 0.1, 4)
    (tmp_path / "orphan.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml.*named by base: in"):
        load_config(tmp_path / "orphan.yaml")
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "loop.yaml")


def test_overrides_apply_with_yaml_types(tmp_path):
    cfg = load_config(
        write(tmp_path, "train:\n  max_steps: 3\n"),
        ["train.max_steps=10", "train.learning_rate=1e-4", "task.levels=[4, 5]", "model.backend=hf", "log.tui=false"],
    )
    assert cfg.train.max_steps == 10
    assert cfg.train.learning_rate == pytest.approx(1e-4)
    assert cfg.task.levels == [4, 5]
    assert cfg.model.backend == "hf"
    assert cfg.log.tui is False


@pytest.mark.parametrize(("value", "expected"), [
    ("wandb", ["wandb"]), ("wandb,tensorboard", ["wandb", "tensorboard"]), ("none", []), ("[tensorboard]", ["tensorboard"]),
])
def test_report_to_takes_a_name_as_transformers_does(value, expected):
    cfg = load_config(None, [f"log.report_to={value}"])
    assert cfg.log.report_to == expected


def test_trainer_arguments_log_where_report_to_says(tmp_path):
    from expo_lite.recipes.trainer_args import common_training_kwargs

    cfg = load_config(None, ["log.report_to=tensorboard"])
    kwargs = common_training_kwargs(cfg.train, tmp_path, gradient_checkpointing=False, report_to=cfg.log.report_to)
    assert kwargs["report_to"] == ["tensorboard"]


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["algo.name=grpo", "train.max_steps=7"])
    again = load_config(write(tmp_path, cfg.to_yaml()))
    assert again == cfg
    assert again.algo.positive_source == "none"  # filled from the algorithm, then saved explicitly


def test_positive_source_follows_algorithm():
    assert load_config(None, ["algo.name=grpo_sft_gt"]).algo.positive_source == "expert_cot"
    assert load_config(None, ["algo.name=exp_dpo"]).algo.positive_source == "self_explanation"
    assert load_config(None, ["algo.name=exp_dpo", "algo.positive_source=expert_cot"]).algo.positive_source == "expert_cot"
    with pytest.raises(ConfigError, match="algo: positive_source 'expert_cot' does not fit algo.name 'grpo'"):
        load_config(None, ["algo.name=grpo", "algo.positive_source=expert_cot"])


# Each bad config must produce an error whose text names the offending key (and, where useful, the fix).
BAD_CONFIGS = [
    ("train:\n  max_step: 3\n", ["train.max_step", "Did you mean 'train.max_steps'"]),
    ("modle:\n  name: x\n", ["modle", "Did you mean 'model'"]),
    ("model:\n  backend: gpu\n", ["model.backend", "'gpu'", "'unsloth'", "'hf'"]),
    ("train:\n  learning_rate: fast\n", ["train.learning_rate", "'fast'"]),
    ("lora:\n  r: 0\n", ["lora.r", "greater than 0"]),
    ("task:\n  levels: [0, 6]\n", ["task.levels", "between 1 and 5"]),
    ("eval:\n  k: 8\n  n: 4\n", ["eval", "n (4) must be >= k (8)"]),
    ("algo:\n  name: ppo\n", ["algo.name", "'ppo'", "'exp_grpo'"]),
    ("algo:\n  sft_beta: 0.01\n  sft_beta_min: 0.1\n", ["algo", "sft_beta_min"]),
    ("algo:\n  beta: 0.04\n", ["algo.beta: renamed to algo.sft_beta", "algo.kl_beta is TRL's KL weight"]),
    ("train:\n  run_name: ../escape\n", ["train.run_name", "no slashes"]),
    ("train: 5\n", ["train", "valid dictionary"]),
    ("lora:\n  target_modules: q_proj\n", ["lora.target_modules", "valid list"]),
    ("algo:\n  explain_on: sometimes\n", ["algo.explain_on", "'unsolved'"]),
    ("model:\n  load_in_4bit: maybe\n", ["model.load_in_4bit", "'maybe'"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS, ids=[e[0] for _, e in BAD_CONFIGS])
def test_bad_config_names_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_several_errors_are_reported_together(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "train:\n  max_step: 3\nlora:\n  r: -2\n"))
    assert "train.max_step" in str(info.value) and "lora.r" in str(info.value)


def test_bad_override_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["train.max_steps"])
    with pytest.raises(ConfigError, match="train.max_stpes.*Did you mean 'train.max_steps'"):
        load_config(None, ["train.max_stpes=3"])
    with pytest.raises(ConfigError, match="train is a value, not a section"):
        load_config(write(tmp_path, "train: 1\n"), ["train.max_steps.x=3"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="line 2"):
        load_config(write(tmp_path, "model:\n\tname: x\n"))  # a tab on line 2
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(write(tmp_path, "- a\n- b\n"))
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("train:\n  run_name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_safe_load_refuses_python_objects(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: !!python/object/apply:os.system ['echo hi']\n"))


def test_parse_override_values():
    assert parse_override("a.b=1") == (["a", "b"], 1)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=text with = sign") == (["a"], "text with = sign")
    assert yaml.safe_load(ExpoConfig().to_yaml())["model"]["name"] == "embedded:smollm2-135m"


def test_demo_config_is_the_default_but_for_its_levels():
    # `expo-lite train` with no file runs the defaults; `make demo` narrows them to the two easiest
    # levels, where the embedded model writes valid self-explanations often enough to see ExPO work.
    demo = load_config("demo")
    assert demo.task.levels == [1, 2]
    demo.task.levels = None
    assert demo == ExpoConfig()


def test_the_recipes_state_the_grpo_objective():
    """Every GRPO recipe writes each objective key out (through its base: chain), so it does not depend on a stack's
    defaults even if ours change."""
    from expo_lite.config import _read_yaml

    for path in EXPO_CONFIGS:
        algo = _read_yaml(path).get("algo", {})  # the YAML as written, base: chain merged, no defaults filled in
        if algo.get("name") == "exp_dpo":
            continue
        for key in ("loss_type", "kl_beta", "epsilon", "epsilon_high", "scale_rewards", "mask_truncated_completions"):
            assert key in algo, (path.name, key)


def test_a_bare_off_in_yaml_turns_the_reach_check_off(tmp_path):
    """YAML 1.1 reads `off` as false; `reach_check: off` still means the setting named off, and a wrong value
    is refused naming the choices."""
    path = tmp_path / "c.yaml"
    path.write_text("explain:\n  reach_check: off\n")
    assert load_config(path).explain.reach_check == "off"
    assert load_config(None, ["explain.reach_check=off"]).explain.reach_check == "off"
    with pytest.raises(ConfigError, match="explain.reach_check.*'derivation'"):
        load_config(None, ["explain.reach_check=derive"])
