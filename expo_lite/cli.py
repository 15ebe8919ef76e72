"""`expo-lite` command line: a thin typer layer over functions a notebook can call directly.

Exit statuses: 0 done, 2 bad input (or the run directory is in use), 3 NaN/inf loss, 4 CUDA out of
memory, 5 the run directory cannot be written (disk full, read-only), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import interrupts
from .config import ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ExPO (self-explanation RL) on one GPU.")

EXIT_BAD_INPUT, EXIT_NAN, EXIT_OOM, EXIT_WRITE, EXIT_INTERRUPTED = 2, 3, 4, 5, 130


@app.callback()
def _every_command(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show every third-party message and progress bar.")] = False,
) -> None:
    """ExPO (self-explanation RL) on one GPU."""
    # Ctrl-C must always reach us, in every phase: every command of ours saves what it has and exits 130 on
    # SIGINT. A process may inherit SIGINT ignored (`cmd &` in a script, CI runners) or blocked, and a
    # KeyboardInterrupt raised inside a finalizer is dropped; interrupts.py takes all three back.
    interrupts.install()
    if verbose:
        from .quiet import be_verbose

        be_verbose()


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED if code != EXIT_INTERRUPTED else typer.colors.YELLOW, err=True)
    return typer.Exit(code)


@contextmanager
def _exit_statuses() -> Iterator[None]:
    """The documented exit status and a one-paragraph message for every way a command can end: every command
    runs inside it, so bad input is reported one way everywhere."""
    from .data.tasks import TaskError
    from .models.loader import ModelLoadError
    from .run.errors import GPUOutOfMemoryError, NonFiniteLossError
    from .run.rundir import RunDirBusy, RunDirWriteError, is_write_failure

    try:
        yield
    except NonFiniteLossError as exc:
        raise _fail(f"error: {exc}", EXIT_NAN) from None
    except GPUOutOfMemoryError as exc:
        raise _fail(f"error: {exc}", EXIT_OOM) from None
    except RunDirWriteError as exc:
        raise _fail(f"error: {exc}", EXIT_WRITE) from None
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    except (ModelLoadError, TaskError, FileNotFoundError, FileExistsError, ValueError, RunDirBusy) as exc:
        raise _fail(f"error: {exc}", EXIT_BAD_INPUT) from None
    except OSError as exc:
        if not is_write_failure(exc):
            raise
        raise _fail(f"error: could not write {exc.filename or 'the run directory'}: {exc.strerror}", EXIT_WRITE) from None
    except KeyboardInterrupt:
        interrupts.acknowledge()
        raise _fail("interrupted", EXIT_INTERRUPTED) from None

ConfigArg = Annotated[
    Optional[str],  # noqa: UP045
    typer.Argument(help="A YAML file or a recipe name (expo-lite recipes); omit for the embedded offline demo."),
]
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--set", help="Override a config value, e.g. --set train.max_steps=10 (repeatable)."),
]


@app.command()
def train(
    config: ConfigArg = None,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in train.run_name.")] = False,
    no_tui: Annotated[bool, typer.Option("--no-tui", help="Plain log lines instead of the live dashboard.")] = False,
) -> None:
    """Train with the configured algorithm (default: ExP-GRPO on the embedded model and task)."""
    from .recipes.train import run_training

    with _exit_statuses():
        cfg = load_config(config, set_)
        if no_tui:
            cfg.log.tui = False
        run_training(cfg, resume=resume)


@app.command("explain")
def explain_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Task split (default: task.split).")] = None,  # noqa: UP045
    limit: Annotated[Optional[int], typer.Option(min=1, help="Explain only the first N problems.")] = None,  # noqa: UP045
) -> None:
    """Write self-explanations for a task split and report valid rates and the NLL diagnostic."""
    from .tools.diagnostics import run_explain

    with _exit_statuses():
        run_explain(load_config(config, set_), split=split, limit=limit)


@app.command("data")
def data_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Task split (default: task.split).")] = None,  # noqa: UP045
) -> None:
    """Load the task as training would: rows, skipped rows and why, levels, types, answer format, a sample P(q)."""
    from rich.console import Console

    from .data.tasks import load_task
    from .tools.data_report import describe, render, render_sample, sample_prompt

    console = Console(soft_wrap=True)  # long lines stay whole: they get piped and grepped
    with _exit_statuses():
        cfg = load_config(config, set_)
        task = load_task(cfg.task, split)
        render(describe(cfg, task, split), console)  # the facts at once; the templated P(q) needs transformers
        render_sample(sample_prompt(cfg.model, cfg.prompt, task), console)


@app.command("eval")
def eval_cmd(
    target: Annotated[str, typer.Argument(help="A config (YAML or recipe name: evaluates its base model) or a run directory.")],
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Task split (default: task.eval_split).")] = None,  # noqa: UP045
    limit: Annotated[Optional[int], typer.Option(min=1, help="Evaluate only the first N questions.")] = None,  # noqa: UP045
    base: Annotated[bool, typer.Option("--base", help="In a run directory, evaluate the base model.")] = False,
) -> None:
    """pass@k (unbiased, n samples at eval.temperature) and greedy accuracy, by level; writes eval.json."""
    from .recipes.evaluate import run_eval

    with _exit_statuses():
        run_eval(target, set_ or [], split=split, limit=limit, base_model=base)


@app.command("report")
def report_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: the first run directory).")] = None,  # noqa: UP045
) -> None:
    """Markdown report (paper's table shapes) and PNG plots comparing runs side by side."""
    from .tools.report import write_report

    with _exit_statuses():
        path = write_report(runs, out or runs[0])
    typer.echo(f"report: {path}")


@app.command("merge")
def merge_cmd(
    run: Annotated[Path, typer.Argument(help="A run directory with a trained adapter.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: RUN/merged).")] = None,  # noqa: UP045
    dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16")] = "auto",
) -> None:
    """Merge the run's LoRA adapter into its 16-bit base model and save a standalone model."""
    from .tools.export import merge_adapter

    with _exit_statuses():
        if dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"--dtype {dtype!r}: choose auto, float32, bfloat16 or float16")
        path = merge_adapter(run, out, dtype)
    typer.echo(f"merged model: {path}")


@app.command("plan")
def plan_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    trace: Annotated[bool, typer.Option("--trace", help="Also run the real training step on fake tensors (no GPU, "
                                                         "no download; about a minute for a 3B model) and show "
                                                         "its memory beside the prediction.")] = False,
    sizes: Annotated[bool, typer.Option("--sizes", help="Also predict the peak at group sizes 4 / 8 / 16 and "
                                                        "completion lengths 512 / 1024 / 2048 (GRPO recipes).")] = False,
) -> None:
    """Predicted peak GPU memory of a config, part by part, and a fit table for 16/24/40/80 GB."""
    from rich.console import Console

    from .run.planner import plan_memory, render_plan, render_sizes

    with _exit_statuses():
        cfg = load_config(config, set_)
        plan = plan_memory(cfg)
    render_plan(cfg, plan, Console())
    if sizes:
        if cfg.algo.name == "exp_dpo":
            typer.echo("--sizes varies GRPO's group size; this is a DPO recipe: its plan is above.")
        else:
            render_sizes(cfg, Console())
    if trace:
        from .tools.memory_trace import render_trace, trace_memory

        with _exit_statuses():
            traced = trace_memory(cfg)
        render_trace(cfg, traced, plan, Console())


@app.command("config")
def show_config(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """Validate a config and print it fully resolved (every default filled in)."""
    with _exit_statuses():
        cfg = load_config(config, set_)
    sys.stdout.write(cfg.to_yaml())


@app.command()
def doctor() -> None:
    """Versions, the backend `auto` would pick, and whether the embedded model is ready."""
    from .tools.doctor import collect, render

    render(collect())


recipes_app = typer.Typer(no_args_is_help=False, help="The YAML recipes shipped with expo-lite.")
app.add_typer(recipes_app, name="recipes")


@recipes_app.callback(invoke_without_command=True)
def recipes_list(ctx: typer.Context) -> None:
    """List the recipes: name, model, task, algorithm and what each is for (any of them: expo-lite train NAME)."""
    if ctx.invoked_subcommand is not None:
        return
    from .tools.recipes import launcher_configs, list_recipes, render

    with _exit_statuses():
        render(list_recipes(), launcher_configs(), sys.stdout)


@recipes_app.command("cp")
def recipes_cp(
    name: Annotated[str, typer.Argument(help="A recipe name, e.g. qwen2.5-3b or dpo/qwen2.5-3b-math-online.")],
    dest: Annotated[Optional[Path], typer.Argument(help="File or folder to copy to (default: here).")] = None,  # noqa: UP045
) -> None:
    """Copy a recipe to edit it (never overwrites); train with the copy's path."""
    from .tools.recipes import copy_recipe

    with _exit_statuses():
        typer.echo(f"copied {name} to {copy_recipe(name, dest)}")


@recipes_app.command("path")
def recipes_path(name: Annotated[str, typer.Argument(help="A recipe or accelerate/ launch config name.")]) -> None:
    """Print where a shipped recipe or accelerate launch config is (accelerate launch --config_file ...)."""
    from .tools.recipes import recipe_path

    with _exit_statuses():
        typer.echo(str(recipe_path(name)))


def __getattr__(name: str):
    """`click_app`: the click command typer builds from `app`, read by the docs' generated CLI reference."""
    if name == "click_app":
        return typer.main.get_command(app)
    raise AttributeError(name)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
