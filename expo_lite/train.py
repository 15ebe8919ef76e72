"""`expo-lite train`: set up the run directory, load the model, run the configured algorithm.

The ExP-GRPO / ExP-DPO trainers are built in later stages (issues #4, #5). Until they exist this runs
every stage that does, on one batch of training problems, and shows what ExP-GRPO's first step would
see: `G` rollouts per question from P(q) scored by the verifier (the GRPO signal), the groups where
every rollout is wrong (no GRPO signal at all), and the self-explanations that would give those
groups a positive sample. Everything lands in the run directory.
"""

from __future__ import annotations

import time
from typing import Any

from .config import ExpoConfig
from .rundir import RunDir, create_run_dir


def run_training(cfg: ExpoConfig, resume: bool = False, console: Any = None) -> RunDir:
    from rich.console import Console
    from rich.table import Table

    from .answers import is_correct
    from .explain import explain
    from .io import append_jsonl, atomic_write_json
    from .model import load_model
    from .prompts import standard_prompt
    from .sampling import generate
    from .tasks import load_task

    console = console or Console()
    task = load_task(cfg.task)
    run = create_run_dir(cfg, resume=resume)
    console.print(f"[bold]expo-lite[/bold] {cfg.algo.name} | run directory {run.path}\n{task.summary()}")
    start = time.perf_counter()
    model, tokenizer = load_model(cfg)
    console.print(
        f"model {cfg.model.name} loaded in {time.perf_counter() - start:.1f}s "
        f"(backend {model.expo_backend}, 4-bit {cfg.model.load_in_4bit}, LoRA r={cfg.lora.r})"
    )

    group = cfg.algo.num_generations
    n_questions = max(1, cfg.train.per_device_train_batch_size // group)
    problems = task.problems[:n_questions]
    prompts = [standard_prompt(tokenizer, p.question, task.answer_format, cfg.prompt) for p in problems]
    start = time.perf_counter()
    rollouts = generate(model, tokenizer, prompts, max_new_tokens=cfg.train.max_completion_length,
                        temperature=cfg.train.temperature, num_return_sequences=group)
    explanations = explain(model, tokenizer, problems, task.answer_format, cfg.explain, cfg.prompt)
    elapsed = time.perf_counter() - start

    table = Table(title=f"One ExP-GRPO batch: {len(problems)} questions x {group} rollouts ({elapsed:.0f}s)")
    for col in ("level", "question", "correct rollouts", "self-explanation"):
        table.add_column(col)
    all_wrong = 0
    for problem, gens, expl in zip(problems, rollouts, explanations, strict=True):
        rewards = [float(is_correct(g.text, problem.answer)) for g in gens]
        all_wrong += sum(rewards) == 0
        append_jsonl(run.path / "rollouts.jsonl", {"problem_id": problem.id, "rewards": rewards,
                                                   "completions": [g.text for g in gens]})
        append_jsonl(run.explanations_path, expl.to_json())
        verdict = f"valid (NLL {-expl.mean_logprob:.2f})" if expl.valid else f"rejected: {expl.reason}"
        table.add_row(str(problem.level), problem.question[:60], f"{int(sum(rewards))}/{group}", verdict)
    console.print(table)
    stats = {"groups": len(problems), "all_wrong_groups": all_wrong,
             "valid_explanations": sum(e.valid for e in explanations)}
    atomic_write_json(run.path / "preview.json", stats)
    console.print(
        f"groups with no correct rollout (no GRPO signal): {all_wrong}/{len(problems)}; "
        f"valid self-explanations: {stats['valid_explanations']}/{len(problems)}\n"
        f"[yellow]The {cfg.algo.name} trainer lands with issue #4; this run stopped after one batch.[/yellow]\n"
        f"run directory: {run.path} (config.yaml, rollouts.jsonl, explanations.jsonl, preview.json)"
    )
    return run
