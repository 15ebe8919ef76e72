"""The Colab and Kaggle notebooks: stripped in git, their GPU configs resolve, and each one runs top to
bottom in a real Jupyter kernel on CPU in its smoke mode (embedded model and task, a few steps)."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from helpers import REPO

NOTEBOOKS = {  # card: the smallest GPU the notebook names (Colab's and Kaggle's T4: 15 GiB CUDA can allocate)
    "exp_grpo_qwen2.5_3b_colab.ipynb": {"algo": "exp_grpo", "model": "unsloth/Qwen2.5-3B-Instruct-bnb-4bit", "card_gib": 15},
    "exp_dpo_llama3.2_3b_kaggle.ipynb": {"algo": "exp_dpo", "model": "unsloth/Llama-3.2-3B-Instruct", "card_gib": 15},
}
MARGIN = 0.85  # the planner's prediction must leave 15% of the card free (fragmentation, longer answers)


def read(name: str):
    return nbformat.read(REPO / "notebooks" / name, as_version=4)


def cell(nb, starts: str) -> str:
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts)]
    return source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_valid(name):
    nb = read(name)
    nbformat.validate(nb)
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, f"{name}: outputs are committed"
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_gpu_config_resolves(name, monkeypatch, tmp_path):
    """The parameter and config cells as a GPU user runs them (smoke mode off): the recipe exists, the result is
    the 3B model in 4-bit with the notebook's algorithm, and its planned peak fits the card it names."""
    import expo_lite
    from expo_lite.config import recipe_file

    monkeypatch.delenv("EXPO_LITE_NOTEBOOK_SMOKE", raising=False)
    monkeypatch.setenv("EXPO_LITE_NOTEBOOK_OUT", str(tmp_path))
    nb, namespace = read(name), {"expo_lite": expo_lite}
    exec(cell(nb, "import os"), namespace)  # the parameter cell
    exec(cell(nb, "from expo_lite import load_config"), namespace)  # the config cell
    cfg, want = namespace["cfg"], NOTEBOOKS[name]
    assert recipe_file(namespace["RECIPE"]) is not None  # a shipped recipe's name, as in a pip-installed package
    assert cfg.model.name == want["model"] and cfg.model.use_4bit() and cfg.algo.name == want["algo"]
    assert cfg.train.output_dir == str(tmp_path) and cfg.eval.k == 4 and cfg.eval.temperature == 0.7
    assert namespace["SMOKE"] is False
    from expo_lite.run.planner import plan_memory

    peak = plan_memory(cfg).total / 2**30  # the card the notebook names fits its settings, by the planner, with margin
    assert peak <= MARGIN * want["card_gib"], f"{name}: planned peak {peak:.2f} GiB on a {want['card_gib']} GiB card"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_cpu(name, embedded_model, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("EXPO_LITE_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("EXPO_LITE_NOTEBOOK_OUT", str(tmp_path / "runs"))
    monkeypatch.delenv("CI", raising=False)  # CI turns the dashboard off; here we want to see it render
    nb = read(name)
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    (run,) = list((tmp_path / "runs").iterdir())
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    evaluation = json.loads((run / "eval.json").read_text())
    assert evaluation["adapter"] and evaluation["overall"]["questions"] == 4
    assert "## Accuracy by level" in (run / "report.md").read_text()
    assert (run / "merged" / "config.json").is_file() and (run / "merged" / "model.safetensors").is_file()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    train_cell = next(c for c in nb.cells if c.cell_type == "code" and "run_training(cfg)" in c.source)
    # In Jupyter the rich Live dashboard renders into an ipywidgets Output (a widget view in the cell).
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in train_cell.outputs)
    shown = json.dumps([o.get("data", {}) for o in outputs])
    assert "image/png" in shown and "pass@2" in shown and "embedded:smollm2-135m" in shown
    assert os.environ.get("EXPO_LITE_NOTEBOOK_SMOKE") == "1"
