"""Bad input, table-driven: each case runs the real command line and must (1) exit with status 2, (2)
name what is wrong and what would be accepted, and (3) leave an existing run directory, and the folder
holding it, byte for byte as they were (no file changed, none added)."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import load_config
from expo_lite.run.rundir import create_run_dir

runner = CliRunner()

GSM8K_ROW = '{"question": "Tom has 2 apples and gets 3 more. How many?", "answer": "2 + 3 = 5\\n#### 5"}\n'
MATH_ROW = ('{"problem": "What is $1+1$?", "solution": "It is $\\\\boxed{2}$.", "level": "Level 1", '
            '"type": "Algebra"}\n')


@dataclass
class Case:
    id: str
    argv: list[str]  # {data}: folder of the case's files, {runs}: output folder holding the existing run
    expect: list[str]  # every one must appear in the error output
    files: dict[str, str | bytes] = field(default_factory=dict)


def train(*sets: str, config: str | None = None) -> list[str]:
    args = ["train", "--no-tui", "--set", "train.output_dir={runs}", "--set", "train.run_name=precious"]
    for s in sets:
        args += ["--set", s]
    return args + ([config] if config else [])


def local(path: str, *sets: str) -> list[str]:
    return train("task.name=local", f"task.path={{data}}/{path}", *sets)


CASES = [
    # ---- config files and --set overrides
    Case("config-unknown-section", train(config="{data}/c.yaml"), ["trian", "Did you mean 'train'"],
         {"c.yaml": "trian:\n  max_steps: 2\n"}),
    Case("config-nested-typo", train(config="{data}/c.yaml"), ["train.max_step", "Did you mean 'train.max_steps'"],
         {"c.yaml": "train:\n  max_step: 2\n"}),
    Case("config-wrong-type", train(config="{data}/c.yaml"), ["train.max_steps", "'ten'", "integer"],
         {"c.yaml": "train:\n  max_steps: ten\n"}),
    Case("config-negative-lr", train("train.learning_rate=-0.1"), ["train.learning_rate", "greater than 0"]),
    Case("config-unknown-algorithm", train("algo.name=ppo"), ["algo.name", "'ppo'", "exp_grpo", "grpo_sft_gt"]),
    Case("config-invalid-yaml", train(config="{data}/c.yaml"), ["not valid YAML", "line 2"],
         {"c.yaml": "train:\n  max_steps: 2: 3\n"}),
    Case("config-not-a-mapping", train(config="{data}/c.yaml"), ["must hold a mapping", "list"],
         {"c.yaml": "- model\n- task\n"}),
    Case("config-file-missing", train(config="{data}/nope.yaml"), ["Config file not found", "nope.yaml"]),
    Case("config-base-missing", train(config="{data}/c.yaml"), ["missing.yaml", "named by base:"],
         {"c.yaml": "base: missing.yaml\n"}),
    Case("config-not-utf8", train(config="{data}/c.yaml"), ["not UTF-8"], {"c.yaml": b"train:\n  run_name: caf\xe9\n"}),
    Case("config-positive-source-mismatch", train("algo.name=grpo", "algo.positive_source=self_explanation"),
         ["positive_source", "'grpo'", "allowed: none"]),
    Case("config-eval-n-below-k", train("eval.n=2", "eval.k=4"), ["n (2) must be >= k (4)"]),
    Case("config-template-placeholder", train("prompt.template=Solve it."), ["prompt.template", "{question}"]),
    Case("config-levels-range", train("task.levels=[0, 6]"), ["task.levels", "between 1 and 5", "[0, 6]"]),
    Case("config-run-name-path", train("train.run_name=../elsewhere"), ["run_name", "no slashes"]),
    Case("config-zero-rounds", train("algo.rounds=0"), ["algo.rounds", "greater than 0"]),
    Case("set-without-equals", train("train.max_steps"), ["--set", "train.max_steps", "KEY=VALUE"]),
    Case("set-invalid-yaml", train("train.max_steps=[1"), ["--set train.max_steps", "not valid YAML"]),
    Case("set-into-a-value", train("train.max_steps.x=1"), ["train.max_steps", "valid integer"]),
    # ---- dataset files
    Case("data-missing-file", local("nope.jsonl"), ["nope.jsonl", "no such file or directory"]),
    Case("data-folder-without-split", local(""), ["no train*.jsonl", "split 'train'"], {"test.jsonl": GSM8K_ROW}),
    Case("data-unsupported-type", local("d.txt"), ["unsupported file type '.txt'", ".jsonl, .csv or .parquet"],
         {"d.txt": "question,answer\n"}),
    Case("data-empty", local("d.jsonl"), ["the 'train' data is empty"], {"d.jsonl": "\n\n"}),
    Case("data-bad-json-line", local("d.jsonl"), ["d.jsonl", "line 2 is not valid JSON"],
         {"d.jsonl": '{"question": "1+1?", "answer": "2"}\n{"question": oops}\n'}),
    Case("data-row-not-object", local("d.jsonl"), ["row 0 is a list", "expected an object with named columns"],
         {"d.jsonl": "[1, 2]\n"}),
    Case("data-bad-encoding", local("d.jsonl"), ["d.jsonl", "not UTF-8", "re-save it as UTF-8"],
         {"d.jsonl": b'{"question": "caf\xe9 costs 2 + 2?", "answer": "4"}\n'}),
    Case("data-corrupt-parquet", local("d.parquet"), ["d.parquet", "could not be read as parquet"],
         {"d.parquet": b"this is not a parquet file"}),
    Case("data-local-missing-column", local("d.jsonl"), ["missing column(s) ['answer']", "the data has columns"],
         {"d.jsonl": '{"question": "1+1?", "final": "2"}\n'}),
    Case("data-column-map-unknown-key", local("d.jsonl", "task.columns={quest: q}"),
         ["task.columns", "unknown key(s) ['quest']", "question"], {"d.jsonl": '{"question": "1+1?", "answer": "2"}\n'}),
    Case("data-column-map-to-absent-column", local("d.jsonl", "task.columns={question: prompt}"),
         ["missing column(s) ['prompt']", "task.columns"], {"d.jsonl": '{"question": "1+1?", "answer": "2"}\n'}),
    Case("data-unparseable-gold", local("d.jsonl"), ["no usable problems", "skipped 2: 2 unparseable gold answer"],
         {"d.jsonl": '{"question": "a?", "answer": "}}{{"}\n{"question": "b?", "answer": ""}\n'}),
    Case("data-gsm8k-missing-column", train("task.name=gsm8k", "task.path={data}/g.jsonl"),
         ["missing column(s) ['answer']", "openai/gsm8k"], {"g.jsonl": '{"question": "1+1?", "solution": "2"}\n'}),
    Case("data-gsm8k-no-hash-answer", train("task.name=gsm8k", "task.path={data}/g.jsonl"),
         ["no usable problems", "no '#### answer' in the answer column"], {"g.jsonl": '{"question": "q", "answer": "5"}\n'}),
    Case("data-math-no-boxed", train("task.name=math", "task.path={data}/m.jsonl"),
         ["no usable problems", "no \\boxed{} answer in the solution"],
         {"m.jsonl": '{"problem": "1+1?", "solution": "two", "level": "Level 1", "type": "Algebra"}\n'}),
    Case("data-fewer-prompts-than-a-batch", local("d.jsonl"), ["1 usable prompt(s)", "needs 2", "lower the batch size"],
         {"d.jsonl": '{"question": "1+1?", "answer": "2"}\n'}),
    Case("config-batch-not-whole-groups", train("train.per_device_train_batch_size=6"),
         ["not a multiple of algo.num_generations (4)", "whole groups"]),
    Case("data-math-level-filter-empty", train("task.name=math", "task.path={data}/m.jsonl", "task.levels=[5]"),
         ["no usable problems", "none left after the filter task.levels: [5]", "task.levels: [5] kept 0 of 1 rows: the rows' levels "
          "are 1; set task.levels: null to keep every row, or one of 1"], {"m.jsonl": MATH_ROW}),
    # ---- model paths
    Case("model-no-such-dir", train("model.name=./no-such-model"), ["'./no-such-model'", "no such directory"]),
    Case("model-dir-without-config", train("model.name={data}"), ["directory without config.json"], {"x.txt": "x"}),
    Case("model-hub-id-offline", train("model.name=someone/not-in-cache-3b"),
         ["'someone/not-in-cache-3b'", "not in the local Hugging Face cache", "embedded:smollm2-135m"]),
    Case("model-unknown-embedded", train("model.name=embedded:gpt-9"), ["Unknown embedded model", "embedded:smollm2-135m"]),
    Case("model-corrupt-weights", train("model.name={data}/model", "model.backend=hf"), ["Could not load model"]),
    # ---- command-line arguments
    Case("cli-resume-missing-run", train("train.run_name=ghost") + ["--resume"], ["--resume", "ghost", "nothing to resume"]),
    Case("cli-unknown-option", ["train", "--epochs", "3"], ["No such option", "--epochs"]),
    Case("cli-eval-not-a-run-dir", ["eval", "{data}"], ["not a run directory", "config.yaml"], {"x.txt": "x"}),
    Case("cli-eval-run-without-adapter", ["eval", "{runs}/precious"], ["holds no trained adapter", "--base"]),
    Case("cli-eval-limit-zero", ["eval", "{runs}/precious", "--limit", "0"], ["--limit", "greater than or equal to 1"]),
    Case("cli-eval-limit-not-int", ["eval", "{runs}/precious", "--limit", "ten"], ["--limit", "valid integer"]),
    Case("cli-report-missing-dir", ["report", "{data}/nope"], ["not a run directory", "nope"]),
]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def existing_run(tmp_path) -> Path:
    """A run that already has metrics, explanations and a checkpoint: what a bad command must not touch."""
    runs = tmp_path / "runs"
    cfg = load_config(None, [f"train.output_dir={runs}", "train.run_name=precious"])
    run = create_run_dir(cfg)
    run.log_metrics({"step": 1, "loss": 0.5})
    (run.explanations_path).write_text('{"step": 1, "valid": true}\n')
    ckpt = run.checkpoints_path / "checkpoint-1"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text('{"global_step": 1}')
    return runs


def test_the_table_is_big_enough():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)
    assert {c.id.split("-")[0] for c in CASES} >= {"config", "set", "data", "model", "cli"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_named_and_nothing_is_damaged(case, tmp_path, existing_run, tiny_llama):
    data = tmp_path / "data"
    data.mkdir()
    for name, content in case.files.items():
        (data / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.id == "model-corrupt-weights":  # a real saved model whose weights file is garbage
        shutil.copytree(tiny_llama, data / "model")
        (data / "model" / "model.safetensors").write_bytes(b"\x00" * 64)
    before = snapshot(existing_run)
    argv = [a.replace("{data}", str(data)).replace("{runs}", str(existing_run)) for a in case.argv]

    result = runner.invoke(app, argv)

    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    output = " ".join(result.output.split())  # rich may wrap long messages
    for needle in case.expect:
        assert needle in output, f"{needle!r} not in: {output}"
    assert snapshot(existing_run) == before
