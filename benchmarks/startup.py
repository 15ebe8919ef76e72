"""How long a command takes to start: `expo-lite --help`, `recipes`, `config` and `data`, each run `--repeat`
times in a fresh process, timed to its first line of output and to its exit.

    .venv/bin/python benchmarks/startup.py                       # this checkout
    .venv/bin/python benchmarks/startup.py --repo ../old-clone   # another checkout, same interpreter: before/after

Each command runs from the checkout named (its `expo_lite` first on the path), with the interpreter running
this script, round-robin over the commands so a slow moment of the machine is shared. Prints min / median / max
per command. A quiet machine only: anything else on the cores makes the figures void.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "--help": ["--help"],
    "recipes": ["recipes"],
    "config": ["config"],
    "data": ["data"],  # the embedded demo task: facts first, then the chat-templated P(q) (needs transformers)
}


def time_once(repo: Path, argv: list[str]) -> tuple[float, float]:
    """(seconds to the first line of output, seconds to exit) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(repo), "COLUMNS": "120"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from expo_lite.cli import app; sys.exit(app())", *argv],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    first = None
    for _ in proc.stdout:
        if first is None:
            first = time.perf_counter() - start
    if proc.wait() != 0:
        raise SystemExit(f"expo-lite {' '.join(argv)} exited {proc.returncode} in {repo}")
    total = time.perf_counter() - start
    return (first if first is not None else total), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1], help="the checkout to time")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    repo = args.repo.resolve()
    for argv in COMMANDS.values():  # once untimed: byte-compiled files and the page cache, as for any later start
        time_once(repo, argv)
    firsts: dict[str, list[float]] = {name: [] for name in COMMANDS}
    totals: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, argv in COMMANDS.items():
            first, total = time_once(repo, argv)
            firsts[name].append(first)
            totals[name].append(total)
    print(f"{args.repeat} runs each, {repo.name}")
    print(f"{'command':<10} {'first line, s (min / median / max)':>36} {'exit, s (min / median / max)':>32}")
    for name in COMMANDS:
        f, t = firsts[name], totals[name]
        print(f"{name:<10} {min(f):>14.2f} / {statistics.median(f):5.2f} / {max(f):5.2f}"
              f" {min(t):>16.2f} / {statistics.median(t):5.2f} / {max(t):5.2f}")


if __name__ == "__main__":
    main()
