"""Ctrl-C under load: run each Ctrl-C test of both lanes many times beside CPU-bound processes, and keep, for every
miss, what the test's diagnostics say (the child's SIGINT handler when the phase was entered, the kernel's view of
SIGINT per thread, the output tail).

    .venv/bin/python benchmarks/interrupt_stress.py --runs 20 --burners 2            # the DPO Ctrl-C tests
    .venv/bin/python benchmarks/interrupt_stress.py --runs 5 --all                   # every Ctrl-C test
    .venv/bin/python benchmarks/interrupt_stress.py --runs 20 --out stress.json      # keep every run's record
    .venv/bin/python benchmarks/interrupt_stress.py --race 200                       # the cause, in isolation

Each run is one pytest process for one test (the lane's own interpreter: .venv for the main lane, .venv-gpu-stack
for the GPU user's), with `--burners` processes spinning (`while True: pass`) for its whole duration, on top of the
burner the main lane's interrupt tests start themselves. Runs go round-robin over the tests, so a slow period
of the machine is shared. Prints one row per test: runs, passes, failures, median and max seconds; then each
failure's diagnostics.

`--race N` shows the cause of the presses the tests lost, without torch: a child marks a file the way the tests'
driver did (`open(marker, "w").write(...)`, the file exists before it is written and closed) and waits; the parent
sends SIGINT the moment the file exists. When the signal lands while the temporary file object is being closed
by the garbage collector, the KeyboardInterrupt is raised inside its flush and CPython drops it (errors of close()
in an IO finalizer are cleared outside dev mode): the child sleeps through. The same child marking the file with
os.write, or checking a latched press (expo_lite/interrupts.py) while it waits, loses none.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN = (REPO / ".venv" / "bin" / "python", {})
GPU_STACK = (REPO / ".venv-gpu-stack" / "bin" / "python",
             {"EXPO_LITE_GPU_STACK": "1", "EXPO_LITE_STOCK_PYTHON": str(REPO / ".venv" / "bin" / "python")})
INTERRUPT = "tests/integration/test_interrupt.py"
STACK_CLI = "tests/gpu_stack/test_stack_cli.py"
DPO_TESTS = {  # the two Ctrl-C tests that were seen failing under load
    f"{INTERRUPT}::test_ctrl_c_in_dpo_pair_building_keeps_the_finished_chunks_and_resume_continues": MAIN,
    f"{STACK_CLI}::test_ctrl_c_then_resume_online_exp_dpo_on_unsloths_dpo_trainer": GPU_STACK,
}
OTHER_TESTS = {
    f"{INTERRUPT}::test_ctrl_c_in_every_phase_of_training_saves_and_exits_130": MAIN,
    f"{INTERRUPT}::test_ctrl_c_in_explain_and_eval_keeps_what_is_done": MAIN,
    f"{STACK_CLI}::test_ctrl_c_then_resume_exp_grpo_on_unsloths_trainer": GPU_STACK,
}


def run_once(test: str, python: Path, env: dict[str, str], burners: int, timeout: float) -> dict:
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    start = time.perf_counter()
    try:
        done = subprocess.run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})
        rc, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, output = -1, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}"
    finally:
        for p in spinning:
            p.kill()
            p.wait()
    record = {"test": test, "rc": rc, "seconds": round(time.perf_counter() - start, 1)}
    if rc != 0:
        said = re.findall(r"\[when SIGINT was sent\][^\n]*", output)
        record["diagnostics"] = said[-1][:1500] if said else None
        record["tail"] = output[-4000:]
    return record


RACE_CHILD = r"""
import os, signal, sys, time
marker, how = sys.argv[1], sys.argv[2]
from expo_lite import interrupts
interrupts.install() if how == "latched" else signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    if how == "os.write":
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"phase" * 400)
        os.close(fd)
    else:
        open(marker, "w").write("phase" * 400)
    deadline = time.time() + 3
    while time.time() < deadline:
        time.sleep(0.05)
        if how == "latched":
            interrupts.honour()
    sys.exit(0)  # slept through: the press was lost
except KeyboardInterrupt:
    sys.exit(130)
"""


def race(runs: int) -> None:
    print("| marker written with | while waiting | runs | presses lost |\n|---|---|---|---|")
    for how, waiting in (("open().write", "sleeps"), ("os.write", "sleeps"), ("latched", "checks the latch")):
        lost = 0
        for i in range(runs):
            marker = Path(tempfile.gettempdir()) / f"expo-lite-race-{os.getpid()}-{i}"
            child = subprocess.Popen([sys.executable, "-c", RACE_CHILD, str(marker), how], cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not marker.exists() and child.poll() is None:
                pass
            child.send_signal(2)
            lost += child.wait() != 130
            marker.unlink(missing_ok=True)
        print(f"| {'open().write' if how == 'latched' else how} | {waiting} | {runs} | {lost} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each test")
    parser.add_argument("--burners", type=int, default=2, help="CPU-bound processes beside each run")
    parser.add_argument("--all", action="store_true", help="every Ctrl-C test of both lanes, not only the DPO ones")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run counts as a hang")
    parser.add_argument("--out", type=Path, help="write every run's record here (JSON)")
    parser.add_argument("--race", type=int, metavar="N", help="only the marker race, N children per way (no tests)")
    args = parser.parse_args()
    if args.race:
        race(args.race)
        return
    tests = {**DPO_TESTS, **(OTHER_TESTS if args.all else {})}
    records: list[dict] = []
    print(f"{args.runs} runs of {len(tests)} test(s), {args.burners} burner(s) beside each, round-robin", flush=True)
    for i in range(args.runs):
        for test, (python, env) in tests.items():
            record = run_once(test, python, env, args.burners, args.timeout)
            records.append(record)
            print(f"run {i + 1}: {'pass' if record['rc'] == 0 else 'FAIL'} {record['seconds']:>6.1f}s "
                  f"{test.split('::')[1]}", flush=True)
            if args.out:
                args.out.write_text(json.dumps(records, indent=1))
    print("\n| test | runs | passes | failures | median s | max s |\n|---|---|---|---|---|---|")
    for test in tests:
        mine = [r for r in records if r["test"] == test]
        passes = sum(r["rc"] == 0 for r in mine)
        seconds = [r["seconds"] for r in mine]
        print(f"| {test.split('::')[1]} | {len(mine)} | {passes} | {len(mine) - passes} | "
              f"{statistics.median(seconds):.0f} | {max(seconds):.0f} |")
    for r in records:
        if r["rc"] != 0:
            print(f"\nFAIL {r['test']} (rc {r['rc']}, {r['seconds']} s)\n  diagnostics: {r['diagnostics']}\n"
                  f"  tail: {r['tail'][-1500:]}")


if __name__ == "__main__":
    main()
