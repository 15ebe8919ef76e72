"""`expo-lite train`: set up the run directory, load the model, run the configured algorithm.

The ExP-GRPO / ExP-DPO trainers are built in later stages (issues #4, #5). Until they exist, this runs
the stages that do: resolve and save the config, load the model (4-bit + LoRA), and sample the model's
answers to a few embedded questions into `samples.jsonl`, so the whole path from config to run
directory is exercised on every machine.
"""

from __future__ import annotations

import time

from .config import ExpoConfig
from .rundir import RunDir, create_run_dir

DEMO_QUESTIONS = [
    "What is 17 + 25? Think step by step and end with: The answer is <number>.",
    "Tom has 3 boxes with 4 apples each. He eats 2 apples. How many apples are left? "
    "Think step by step and end with: The answer is <number>.",
]


def run_training(cfg: ExpoConfig, resume: bool = False) -> RunDir:
    from rich.console import Console

    from .io import append_jsonl
    from .model import load_model
    from .sampling import chat_prompt, generate

    console = Console()
    run = create_run_dir(cfg, resume=resume)
    console.print(f"[bold]expo-lite[/bold] run directory: {run.path}")
    start = time.perf_counter()
    model, tokenizer = load_model(cfg)
    console.print(
        f"model {cfg.model.name} loaded in {time.perf_counter() - start:.1f}s "
        f"(backend {model.expo_backend}, 4-bit {cfg.model.load_in_4bit}, LoRA r={cfg.lora.r})"
    )
    prompts = [chat_prompt(tokenizer, q) for q in DEMO_QUESTIONS]
    gens = generate(model, tokenizer, prompts, max_new_tokens=cfg.train.max_completion_length)
    for question, (gen,) in zip(DEMO_QUESTIONS, gens, strict=True):
        append_jsonl(run.path / "samples.jsonl", {"question": question, "completion": gen.text, "truncated": gen.truncated})
        console.print(f"[cyan]Q:[/cyan] {question}\n[green]A:[/green] {gen.text.strip()}")
    console.print(
        f"[yellow]algo {cfg.algo.name}: the trainer is not built yet; this run stopped after sampling.[/yellow]\n"
        f"Resolved config: {run.config_path}\nSamples: {run.path / 'samples.jsonl'}"
    )
    return run
