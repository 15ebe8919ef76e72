"""Run configuration: YAML -> pydantic, with errors that name the key and say what would be accepted.

One `ExpoConfig` holds everything a run needs, split into sections that mirror the pipeline
(model -> lora -> task -> explain -> algo -> train -> eval -> log). The defaults *are* the embedded
demo: `ExpoConfig()` trains the embedded SmolLM2 model on the embedded arithmetic task, so
`expo-lite train` with no file works offline.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

EMBEDDED_MODEL = "embedded:smollm2-135m"


class ConfigError(ValueError):
    """A config that cannot be used; the message lists every problem with its key path."""


class _Section(BaseModel):
    # extra="forbid" is what turns a typo into an error instead of a silently ignored key.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    name: str = Field(EMBEDDED_MODEL, description="Hub id, local directory, or 'embedded:smollm2-135m'.")
    backend: Literal["auto", "unsloth", "hf"] = "auto"
    # auto = 4-bit NF4 for every model except the embedded 135M demo model: measured here, NF4 takes its
    # greedy accuracy on level-1 arithmetic from 5/12 to 0/12, and on a 135M model 4-bit saves nothing
    # that matters. The 3B recipes set it explicitly.
    load_in_4bit: bool | Literal["auto"] = "auto"

    def use_4bit(self) -> bool:
        return self.name != EMBEDDED_MODEL if self.load_in_4bit == "auto" else bool(self.load_in_4bit)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_seq_length: int = Field(1024, gt=0)
    gradient_checkpointing: bool = True
    trust_remote_code: bool = False
    chat_template: str | None = Field(None, description="Jinja chat template overriding the tokenizer's.")


class LoraSection(_Section):
    r: int = Field(16, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    seed: int = 3407


class TaskConfig(_Section):
    name: Literal["arithmetic", "countdown", "gsm8k", "math", "local"] = "arithmetic"
    path: str | None = Field(None, description="Local file/dir for gsm8k, math or local tasks.")
    hub_id: str | None = Field(None, description="Override the hub dataset id of gsm8k/math.")
    split: str = "train"
    eval_split: str = "test"
    levels: list[int] | None = None
    types: list[str] | None = None
    columns: dict[str, str | list[str]] = Field(default_factory=dict, description=(
        "Column map for local files: question, answer, solution, level, type, id, and per answer format options, "
        "labels (choice), aliases (exact), numbers, target (countdown). options may name one list column or "
        "several columns, one option each, in label order: options: [A, B, C, D]."))
    answer_format: Literal["auto", "boxed", "hash", "choice", "exact", "countdown", "program"] = Field(
        "auto", description="How answers are found, compared and written (verify/formats/); auto: boxed for math "
                            "and local, hash for gsm8k and arithmetic, countdown for countdown.")
    program: str | None = Field(None, description="module:function, the check of answer_format: program.")
    max_samples: int | None = Field(None, gt=0)
    num_problems: int = Field(200, gt=0, description="Problems generated per level by the arithmetic and countdown tasks.")
    seed: int = 0
    # "task.levels" -> "base: demo" for a key a base: config set and the user's own file did not (load_config)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, key: str) -> str:
        """Where an inherited task key came from ("base: demo"), or "" when the user's own config or --set gave it."""
        return self._origins.get(key, "")

    @model_validator(mode="before")
    @classmethod
    def _program_spec(cls, data: Any) -> Any:
        """`answer_format: program:my_checks:check`, the form `expo-lite data` displays, means answer_format
        program with program my_checks:check."""
        spec = data.get("answer_format") if isinstance(data, dict) else None
        if isinstance(spec, str) and spec.startswith("program:"):
            target = spec.removeprefix("program:")
            if data.get("program") not in (None, target):
                raise ValueError(f"task.answer_format {spec!r} and task.program {data['program']!r} name two checks; "
                                 f"keep one")
            data = {**data, "answer_format": "program", "program": target}
        return data

    @model_validator(mode="after")
    def _program_named(self) -> TaskConfig:
        if self.answer_format == "program" and not self.program:
            raise ValueError("task.answer_format program needs task.program: module:function (your check)")
        if self.program and self.answer_format != "program":
            raise ValueError(f"task.program is set but task.answer_format is {self.answer_format!r}; set "
                             f"task.answer_format: program to grade with it")
        return self

    @field_validator("columns")
    @classmethod
    def _one_column_each(cls, columns: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        listed = [key for key, value in columns.items() if isinstance(value, list) and key != "options"]
        if listed:
            raise ValueError(f"columns.{listed[0]} names one column (a string); only columns.options may list "
                             f"several (one option per column, e.g. options: [A, B, C, D])")
        if isinstance(columns.get("options"), list) and not columns["options"]:
            raise ValueError("columns.options is an empty list; name the option columns in label order, e.g. [A, B, C, D]")
        return columns

    @field_validator("levels")
    @classmethod
    def _levels_in_range(cls, levels: list[int] | None) -> list[int] | None:
        if levels is not None:
            bad = [lv for lv in levels if not 1 <= lv <= 5]
            if bad:
                raise ValueError(f"levels must be between 1 and 5, got {bad}")
        return levels


class PromptConfig(_Section):
    """P(q) and P_x(q, a*). The hint template must keep the standard prompt's wording and add only the
    answer: the closer the two prompts, the more likely the self-explanation is under P(q)."""

    system: str | None = None
    template: str = "{question}\n\n{instruction}"
    hint_template: str = (
        "{question}\n\nThe correct final answer is {answer}. {instruction} "
        "Explain it as if you were solving it yourself, without saying that the answer was given."
    )

    option: str = Field("({label}) {text}", description=(
        "How each option of a multiple-choice row (answer_format: choice) is shown, one per line under the question; "
        "'' shows none (a question text that already lists them is left as is)."))
    numbers: str = Field("Numbers: {numbers}. Target: {target}.", description=(
        "How a countdown row's numbers and target are shown under a question that does not state them; '' shows none."))

    def layout(self) -> dict[str, str]:
        """What the answer formats read to show a row's options or numbers (verify/formats/)."""
        return {"option": self.option, "numbers": self.numbers}

    @model_validator(mode="after")
    def _placeholders(self) -> PromptConfig:
        for name, text, needed in (
            ("template", self.template, ("{question}", "{instruction}")),
            ("hint_template", self.hint_template, ("{question}", "{instruction}", "{answer}")),
            ("option", self.option or "{label}{text}", ("{label}", "{text}")),
            ("numbers", self.numbers or "{numbers}{target}", ("{numbers}", "{target}")),
        ):
            missing = [p for p in needed if p not in text]
            if missing:
                raise ValueError(f"prompt.{name} must contain {', '.join(needed)}; missing {', '.join(missing)}")
        return self


class ExplainConfig(_Section):
    num_tries: int = Field(2, gt=0)
    sampling: Literal["auto", "with_rollouts", "separate"] = Field(
        "auto", description="ExP-GRPO: sample the explanation tries inside TRL's rollout call (with_rollouts) or "
                            "in a call of their own (separate); auto = with_rollouts for explain_on: all, and for "
                            "unsolved with_rollouts while the previous batch had an unsolved group, else separate.")
    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(50, ge=0, description="0 = off; 50 is transformers' generate default, which explanations "
                                             "have always been sampled with")
    max_new_tokens: int = Field(128, gt=0)
    min_reasoning_tokens: int = Field(8, ge=0)
    reach_check: Literal["auto", "derivation", "answer_gain", "both", "off"] = Field(
        "auto", description="How a try must show that its reasoning reaches its answer (refused as unreached): "
                            "derivation = the answer ends an `=` chain whose step before it is worth it, solves the "
                            "reasoning's equations, or is the result of a computation in the reasoning, and no "
                            "plain arithmetic written on the way is false (refused as false_equation) (formats "
                            "whose reasoning computes: math, GSM8K, countdown); answer_gain = the reasoning raises "
                            "the policy's log-probability of the answer by more than min_answer_gain (every "
                            "format); auto = derivation where the format computes, answer_gain elsewhere.")
    min_answer_gain: float = Field(0.0, description="answer_gain: nats the reasoning must add to the answer's "
                                                    "log-probability under P(q)")

    @field_validator("reach_check", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false
    leak_phrases: list[str] = Field(
        default_factory=lambda: [
            "the given answer", "the provided answer", "we were told", "as provided", "as given",
            "the answer is given", "given that the answer", "the hint",
        ]
    )


# What each algorithm trains on as its positive sample; the first entry is its default.
POSITIVE_SOURCES = {
    "exp_grpo": ("self_explanation",),
    "grpo": ("none",),
    "grpo_sft_gt": ("expert_cot",),
    "exp_dpo": ("self_explanation", "expert_cot"),  # expert_cot = the paper's expert-CoT DPO baseline
}


class AlgoConfig(_Section):
    name: Literal["exp_grpo", "grpo", "grpo_sft_gt", "exp_dpo"] = "exp_grpo"
    # Two betas, named for what they weigh: the SFT term of ExP-GRPO (sft_beta) and TRL's KL term (kl_beta).
    sft_beta: float = Field(0.04, ge=0.0, description="Weight of the SFT term on the positives (paper: 0.04).")
    sft_beta_schedule: Literal["constant", "linear", "cosine"] = "constant"
    sft_beta_min: float = Field(0.0, ge=0.0, description="Where linear/cosine decay of sft_beta ends.")
    positive_source: Literal["self_explanation", "expert_cot", "none"] | None = Field(
        None, description="Defaults from the algorithm: exp_grpo/exp_dpo -> self_explanation, grpo -> none, grpo_sft_gt -> expert_cot."
    )
    explain_on: Literal["all", "unsolved"] = "all"
    num_generations: int = Field(4, gt=1)
    # The GRPO objective, stated in full: TRL 1.15/1.16's defaults, passed explicitly because Unsloth's generated
    # GRPOConfig has other ones (see unsloth_trainers.py), so a recipe trains the same loss on both stacks.
    loss_type: Literal["dapo", "grpo", "dr_grpo", "bnpo"] = Field(
        "dapo", description="TRL's GRPO loss aggregation (GRPOConfig.loss_type); dapo is TRL's default.")
    kl_beta: float = Field(0.0, ge=0.0, description="TRL's KL coefficient (GRPOConfig.beta).")
    epsilon: float = Field(0.2, gt=0.0, description="Lower clipping range (GRPOConfig.epsilon).")
    epsilon_high: float | None = Field(None, gt=0.0, description="Upper clipping range; null = epsilon (symmetric).")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Advantage scaling by the reward std of the group / batch, or none (Dr. GRPO).")
    mask_truncated_completions: bool = Field(
        False, description="Leave rollouts cut at max_completion_length out of the loss (DAPO).")
    mode: Literal["offline", "online"] = "offline"
    rounds: int = Field(2, gt=0)
    dpo_beta: float = Field(0.1, gt=0.0)
    dpo_sft_weight: float = Field(0.0, ge=0.0, description="Weight of TRL's 'sft' loss on chosen (0 = off).")
    dpo_epochs: float = Field(1.0, gt=0.0, description="DPO epochs over each round's pairs.")
    pair_chunk_questions: int = Field(
        8, gt=0, description="Questions whose rollouts and explanation tries are sampled in one decode while DPO "
                             "builds pairs; generation memory grows with it (`expo-lite plan`).")

    @model_validator(mode="after")
    def _default_positive_source(self) -> AlgoConfig:
        allowed = POSITIVE_SOURCES[self.name]
        if self.positive_source is None:
            object.__setattr__(self, "positive_source", allowed[0])
        elif self.positive_source not in allowed:
            raise ValueError(
                f"positive_source {self.positive_source!r} does not fit algo.name {self.name!r} "
                f"(allowed: {', '.join(allowed)}); the baselines are their own algorithms: grpo, grpo_sft_gt"
            )
        if self.sft_beta_min > self.sft_beta:
            raise ValueError(f"sft_beta_min ({self.sft_beta_min}) must not exceed sft_beta ({self.sft_beta})")
        return self


class TrainConfig(_Section):
    run_name: str = "demo"
    output_dir: str = "runs"
    max_steps: int = Field(4, gt=0)
    learning_rate: float = Field(5e-5, gt=0.0)
    per_device_train_batch_size: int = Field(8, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_prompt_length: int = Field(256, gt=0)
    max_completion_length: int = Field(128, gt=0)
    temperature: float = Field(0.7, gt=0.0, description="Rollout sampling temperature (GRPO needs > 0).")
    warmup_ratio: float = Field(0.0, ge=0.0, le=1.0)
    lr_scheduler_type: str = "constant"
    optim: str = "adamw_torch"
    weight_decay: float = Field(0.0, ge=0.0)
    adam_beta1: float = Field(0.9, ge=0.0, lt=1.0)
    adam_beta2: float = Field(0.999, ge=0.0, lt=1.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    logging_steps: int = Field(1, gt=0)
    save_steps: int = Field(2, gt=0)
    seed: int = 42

    @field_validator("run_name")
    @classmethod
    def _safe_run_name(cls, name: str) -> str:
        if not name or "/" in name or "\\" in name or name in {".", ".."}:
            raise ValueError(f"run_name must be a plain folder name (no slashes), got {name!r}")
        return name


class EvalConfig(_Section):
    k: int = Field(4, gt=0)
    n: int = Field(4, gt=0)
    temperature: float = Field(0.7, ge=0.0)
    max_new_tokens: int = Field(256, gt=0)
    max_samples: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _n_at_least_k(self) -> EvalConfig:
        if self.n < self.k:
            raise ValueError(f"n ({self.n}) must be >= k ({self.k}) for the unbiased pass@k estimator")
        return self


class LogConfig(_Section):
    tui: bool = True
    report_to: list[str] = Field(
        default_factory=list,
        description="Where transformers' trainer also logs: wandb, tensorboard, ... (one name, a comma-separated "
                    "string or a list; none or [] for nowhere). metrics.jsonl is always written.")

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:
        """`--set log.report_to=wandb` (a string, as transformers' own `report_to` takes it) is the list [wandb]; "none"
        is no integration."""
        if isinstance(value, str):
            names = [v.strip() for v in value.split(",") if v.strip()]
            return [] if names in ([], ["none"]) else names
        return value


class ExpoConfig(_Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoraSection = Field(default_factory=LoraSection)
    task: TaskConfig = Field(default_factory=TaskConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)
    algo: AlgoConfig = Field(default_factory=AlgoConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="after")
    def _sequences_fit(self) -> ExpoConfig:
        """Every training sequence (P(q) + a rollout or a self-explanation) must fit model.max_seq_length:
        Unsloth silently cuts longer inputs, and the log-probs of the cut tokens then cannot be taken."""
        longest = self.train.max_prompt_length + max(self.train.max_completion_length, self.explain.max_new_tokens)
        if longest > self.model.max_seq_length:
            raise ValueError(
                f"model.max_seq_length ({self.model.max_seq_length}) is shorter than train.max_prompt_length "
                f"({self.train.max_prompt_length}) + the longest completion (train.max_completion_length "
                f"{self.train.max_completion_length}, explain.max_new_tokens {self.explain.max_new_tokens}) = "
                f"{longest}; raise model.max_seq_length or lower those lengths"
            )
        return self

    def run_dir(self) -> Path:
        return Path(self.train.output_dir) / self.train.run_name

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- loading and error messages


def _field_names(model_cls: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The valid keys at `path` inside ExpoConfig (for 'did you mean' suggestions)."""
    cls: Any = model_cls
    for part in path:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        cls = annotation
    return list(cls.model_fields)


# Keys that were renamed, with what they are now (a config written for an older expo-lite gets told).
RENAMED = {
    ("algo", "beta"): "algo.sft_beta (the SFT term's weight; algo.kl_beta is TRL's KL weight)",
    ("algo", "beta_schedule"): "algo.sft_beta_schedule",
    ("algo", "beta_min"): "algo.sft_beta_min",
}


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "<root>"
    kind = error["type"]
    if kind == "extra_forbidden" and loc in RENAMED:
        return f"{key}: renamed to {RENAMED[loc]}."
    if kind == "extra_forbidden":
        valid = _field_names(ExpoConfig, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f" Did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""
        return f"{key}: unknown key.{hint} Valid keys here: {', '.join(valid)}."
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return f"{key}: {error['input']!r} is not allowed; choose one of {allowed}."
    if kind == "value_error":  # our own validators already quote the offending value (and name the keys)
        message = error["msg"].removeprefix("Value error, ")
        return f"{key}: {message}." if loc else f"{message}."
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{key}: {error['msg']}{shown}."


def _raise_config_error(err: ValidationError, source: str) -> None:
    lines = [_describe(e) for e in err.errors()]
    raise ConfigError(f"Invalid config ({source}):\n  - " + "\n  - ".join(lines)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.max_steps=10' -> (['train', 'max_steps'], 10). Values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.max_steps=10")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text!r}: the key before '=' is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({exc.problem})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {text!r}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# The YAML recipes shipped inside the package (package data: a wheel holds them too). A recipe's name is its
# path below this folder without `.yaml`: `qwen2.5-3b`, `dpo/qwen2.5-3b-math-online`. `accelerate/` holds
# accelerate's launch configs, which are not expo-lite configs.
RECIPES_DIR = Path(__file__).parent / "configs"


def recipe_names() -> list[str]:
    """Every shipped expo-lite recipe, by name."""
    return sorted(p.relative_to(RECIPES_DIR).with_suffix("").as_posix() for p in RECIPES_DIR.rglob("*.yaml")
                  if p.relative_to(RECIPES_DIR).parts[0] != "accelerate")


def recipe_file(name: str) -> Path | None:
    """The shipped file of a recipe name (or of a launcher config under accelerate/), or None."""
    path = RECIPES_DIR / f"{name.removesuffix('.yaml')}.yaml"
    inside = path.resolve().is_relative_to(RECIPES_DIR.resolve())
    return path if inside and path.is_file() else None


def config_file(source: str | Path, named_by: Path | None = None) -> Path:
    """The YAML file a config source names: a path when that file exists (for a `base:` key, relative to the
    file `named_by` that holds it), else a shipped recipe's name. Raises ConfigError saying what is accepted."""
    path = Path(source).expanduser()
    local = named_by.parent / path if named_by is not None and not path.is_absolute() else path
    if local.is_file():
        return local
    shipped = recipe_file(str(source))
    if shipped is not None:
        return shipped
    names = recipe_names()
    close = difflib.get_close_matches(str(source).removesuffix(".yaml"), names, n=3, cutoff=0.5)
    where = f" (named by base: in {named_by})" if named_by is not None else ""
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"Config file not found: {local}{where}, and no recipe is called {str(source)!r}.{hint} Pass a "
                      f"YAML file or a recipe name (`expo-lite recipes` lists them: {', '.join(names[:3])}, ...).")


def _leaf_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        if isinstance(value, dict) and value:
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def _read_yaml(path: Path, seen: tuple[Path, ...] = (), origins: dict[str, str] | None = None) -> dict[str, Any]:
    """The mapping in `path`, merged over the config its `base:` key names (a file relative to it, or a
    recipe name), recursively. `origins` gets "base: NAME" for every key the merged mapping holds because a
    base set it and no file nearer the user's did."""
    if path.resolve() in seen:
        raise ConfigError(f"Config file {path}: base: chain loops back to itself")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"Config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"Config file {path} must hold a mapping of sections (model:, task:, ...), got {type(loaded).__name__}."
        )
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise ConfigError(f"Config file {path}: base: must be a YAML file or a recipe name, got {base!r}")
    inherited = _read_yaml(config_file(base, named_by=path), (*seen, path.resolve()), origins)
    if origins is not None:
        own = _leaf_keys(loaded)
        for key in list(origins):  # set again nearer the user: not inherited after all
            if key in own:
                del origins[key]
        for key in _leaf_keys(inherited) - own:
            origins.setdefault(key, f"base: {base}")
    return _merge(inherited, loaded)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExpoConfig:
    """Read a YAML config - a file, or a shipped recipe by name (`qwen2.5-3b`) - or the embedded defaults when
    `path` is None, and apply `--set` overrides. A config may start from another with `base: other.yaml`
    (relative to it) or `base: qwen2.5-3b` (a recipe); its own keys win."""
    source = "defaults" if path is None else str(path)
    origins: dict[str, str] = {}
    data: dict[str, Any] = {} if path is None else _read_yaml(config_file(path), origins=origins)
    if overrides:
        source += " + --set overrides"
        data = apply_overrides(data, overrides)
        for text in overrides:  # what --set gives is the user's own
            origins.pop(".".join(parse_override(text)[0]), None)
    try:
        cfg = ExpoConfig.model_validate(data)
    except ValidationError as err:
        _raise_config_error(err, source)
        raise  # unreachable; keeps type checkers happy
    cfg.task._origins = {key: where for key, where in origins.items() if key.startswith("task.")}
    return cfg
