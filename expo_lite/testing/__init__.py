"""What the test suite, the GPU-user lane (tests/gpu_stack) and the GPU smoke kit (benchmarks/gpu_smoke.py)
share: tiny random models built offline (`tiny`) and the trainer contract's checks (`contract`). Shipped in the
package because the smoke kit runs in a plain `pip install -e ".[unsloth]"` (from a clone) environment."""

from .tiny import CHATML, build_tiny_model, build_tokenizer

__all__ = ["CHATML", "build_tiny_model", "build_tokenizer"]
