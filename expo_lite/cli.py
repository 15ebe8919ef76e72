"""`expo-lite` command line: a thin typer layer over functions a notebook can call directly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .config import ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ExPO (self-explanation RL) on one GPU.")

ConfigArg = Annotated[Optional[Path], typer.Argument(help="YAML config; omit for the embedded offline demo.")]  # noqa: UP045
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--set", help="Override a config value, e.g. --set train.max_steps=10 (repeatable)."),
]


def _load(config: Path | None, overrides: list[str] | None):
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command()
def train(
    config: ConfigArg = None,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in train.run_name.")] = False,
    no_tui: Annotated[bool, typer.Option("--no-tui", help="Plain log lines instead of the live dashboard.")] = False,
) -> None:
    """Train with the configured algorithm (default: ExP-GRPO on the embedded model and task)."""
    cfg = _load(config, set_)
    if no_tui:
        cfg.log.tui = False
    from .callbacks import NonFiniteLossError
    from .model import ModelLoadError
    from .planner import GPUOutOfMemoryError
    from .tasks import TaskError
    from .train import run_training

    try:
        run_training(cfg, resume=resume)
    except NonFiniteLossError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(3) from None
    except GPUOutOfMemoryError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(4) from None
    except (ModelLoadError, TaskError, FileNotFoundError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None


@app.command("explain")
def explain_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Task split (default: task.split).")] = None,  # noqa: UP045
    limit: Annotated[Optional[int], typer.Option(min=1, help="Explain only the first N problems.")] = None,  # noqa: UP045
) -> None:
    """Write self-explanations for a task split and report valid rates and the NLL diagnostic."""
    cfg = _load(config, set_)
    from .diagnostics import run_explain
    from .model import ModelLoadError
    from .tasks import TaskError

    try:
        run_explain(cfg, split=split, limit=limit)
    except (ModelLoadError, TaskError, FileNotFoundError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command("data")
def data_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Task split (default: task.split).")] = None,  # noqa: UP045
) -> None:
    """Load the task as training would: rows, skipped rows and why, levels, types, answer format, a sample P(q)."""
    from rich.console import Console

    from .data_report import describe, render
    from .tasks import TaskError

    cfg = _load(config, set_)
    try:
        info = describe(cfg, split)
    except (TaskError, FileNotFoundError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    render(info, Console(soft_wrap=True))  # long lines stay whole: they get piped and grepped


@app.command("eval")
def eval_cmd(
    target: Annotated[Path, typer.Argument(help="A YAML config (evaluates its base model) or a run directory.")],
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Task split (default: task.eval_split).")] = None,  # noqa: UP045
    limit: Annotated[Optional[int], typer.Option(min=1, help="Evaluate only the first N questions.")] = None,  # noqa: UP045
    base: Annotated[bool, typer.Option("--base", help="In a run directory, evaluate the base model.")] = False,
) -> None:
    """pass@k (unbiased, n samples at eval.temperature) and greedy accuracy, by level; writes eval.json."""
    from .evaluate import run_eval
    from .model import ModelLoadError
    from .tasks import TaskError

    try:
        run_eval(str(target), set_ or [], split=split, limit=limit, base_model=base)
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except (ModelLoadError, TaskError, FileNotFoundError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command("report")
def report_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: the first run directory).")] = None,  # noqa: UP045
) -> None:
    """Markdown report (paper's table shapes) and PNG plots comparing runs side by side."""
    from .report import write_report

    try:
        path = write_report(runs, out or runs[0])
    except (FileNotFoundError, ConfigError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"report: {path}")


@app.command("merge")
def merge_cmd(
    run: Annotated[Path, typer.Argument(help="A run directory with a trained adapter.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: RUN/merged).")] = None,  # noqa: UP045
    dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16")] = "auto",
) -> None:
    """Merge the run's LoRA adapter into its 16-bit base model and save a standalone model."""
    from .export import merge_adapter
    from .model import ModelLoadError

    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        typer.secho(f"error: --dtype {dtype!r}: choose auto, float32, bfloat16 or float16", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        path = merge_adapter(run, out, dtype)
    except (ModelLoadError, FileNotFoundError, FileExistsError, ConfigError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"merged model: {path}")


@app.command("plan")
def plan_cmd(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """Predicted peak GPU memory of a config, part by part, and a fit table for 16/24/40/80 GB."""
    from rich.console import Console

    from .planner import plan_memory, render_plan

    cfg = _load(config, set_)
    try:
        plan = plan_memory(cfg)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    render_plan(cfg, plan, Console())


@app.command("config")
def show_config(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """Validate a config and print it fully resolved (every default filled in)."""
    cfg = _load(config, set_)
    sys.stdout.write(cfg.to_yaml())


@app.command()
def doctor() -> None:
    """Versions, the backend `auto` would pick, and whether the embedded model is ready."""
    from .doctor import collect, render

    render(collect())


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
