"""Third-party messages we know to be harmless, silenced at their source - one exact message each.

Before our first line, every command used to print:
  * torch's pytree module: "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by
    torch.compile ... deprecated" - torchao registers its enums the old way when transformers / peft
    import it; nothing of ours or of the user's is affected;
  * bitsandbytes' CPU backend: "Failed to load CPU gemm_4bit_forward from kernels-community" - it tries
    to fetch an optional kernel from the hub and, offline, falls back to its own CPU kernel;
  * progress bars of transformers and datasets for internal steps (loading weights, tokenizing a handful
    of DPO pairs), which in a log are walls of carriage returns; our phases print their own progress.
Each filter matches one logger and one message prefix, so any other warning of those libraries still
shows. `--verbose` (or EXPO_LITE_VERBOSE=1) turns all of this off.
"""

from __future__ import annotations

import logging
import os

KNOWN_HARMLESS = [  # (logger name, start of the message)
    ("torch.utils._pytree", "%s is an Enum subclass and is now natively supported by torch.compile"),
    ("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward from kernels-community"),
]


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


_FILTERS: list[tuple[logging.Logger, logging.Filter]] = []


def verbose_requested() -> bool:
    return os.environ.get("EXPO_LITE_VERBOSE", "0") not in ("", "0")


def silence_known_noise() -> None:
    """Install the filters (idempotent). Called when expo_lite is imported, before torch is."""
    if _FILTERS or verbose_requested():
        return
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # read when datasets is imported
    for name, prefix in KNOWN_HARMLESS:
        logger = logging.getLogger(name)
        flt = _DropMessage(prefix)
        logger.addFilter(flt)
        _FILTERS.append((logger, flt))


def quiet_progress_bars() -> None:
    """No transformers progress bars for internal steps (loading weights, GGUF conversion); ours report
    the phases. Hub downloads keep theirs (they are huggingface_hub's)."""
    if verbose_requested():
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def be_verbose() -> None:
    """`--verbose`: every message and progress bar of every library, as they come."""
    os.environ["EXPO_LITE_VERBOSE"] = "1"
    if os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS") == "1":
        del os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"]
    while _FILTERS:
        logger, flt = _FILTERS.pop()
        logger.removeFilter(flt)
