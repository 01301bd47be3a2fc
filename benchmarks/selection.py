"""Early stopping on validation loss against validation accuracy (not a test; run by hand).

    PYTHONPATH=. .venv/bin/python benchmarks/selection.py [--seeds 3] [--max-epochs 8] [--threads 1]

EuroEval's recipe (evaluate every 30 optimizer steps, patience 2) on the three demo tasks with
`minilm-l6`, once with `selection_metric=loss` (EuroEval's choice: stop on and restore the lowest
validation loss) and once with `selection_metric=accuracy` (the harness default), same seeds, same
budget otherwise (the demo family's: batch 16, learning rate 1e-4; max_length 64 as the demo suite).
Two results folders are written by `harness run`; this script reads their records and reports per
task and setting: mean test accuracy / macro-F1 / MCC over seeds, steps trained, the restored step,
how many seeds stopped early, and the paired seed-and-example test of loss minus accuracy (the one
`harness compare` uses). Writes benchmarks/results/<date>-selection.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ["demo-sentiment-en", "demo-nli-en", "demo-dialogue-fr"]
SETTINGS = ["loss", "accuracy"]


def run(setting: str, results: Path, seeds: int, max_epochs: float, threads: int) -> float:
    harness = Path(sys.executable).parent / "harness"
    cmd = [str(harness), "run", "--tasks", ",".join(TASKS), "--models", "minilm-l6", "--seeds", str(seeds),
           "--results", str(results), "--no-plots", "--no-leaderboard",
           "--set", "eval_steps=30", "--set", "patience=2", "--set", f"selection_metric={setting}",
           "--set", f"max_epochs={max_epochs}", "--set", "max_length=64", "--cpus-per-cell", str(threads)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - start


def summarise(folders: dict[str, Path]) -> dict:
    from harness.records.grouping import cells_from_records
    from harness.records.store import load_records
    from harness.stats import seed_example_test

    records = {s: load_records(folder) for s, folder in folders.items()}
    out: dict = {}
    for task in TASKS:
        row: dict = {}
        for setting in SETTINGS:
            mine = sorted((r for r in records[setting] if r.task == task), key=lambda r: r.seed)
            test = [r.test for r in mine]
            row[setting] = {
                **{m: sum(t.score(m) for t in test) / len(test) for m in ("accuracy", "macro_f1", "mcc")},
                "per_seed_accuracy": [t.accuracy for t in test],
                "steps": [r.training.steps for r in mine],
                "restored_step": [r.training.restored_step for r in mine],
                "stopped_at_step": [r.training.stopped_at_step for r in mine],
                "min_steps": [r.training.min_steps for r in mine],
            }
        cells = {s: cells_from_records([r for r in records[s] if r.task == task])[0] for s in SETTINGS}
        (loss_cell,), (acc_cell,) = cells["loss"].values(), cells["accuracy"].values()
        seeds = sorted(set(loss_cell.seeds) & set(acc_cell.seeds))
        refs = loss_cell.seeds[seeds[0]].references
        n_labels = len(loss_cell.seeds[seeds[0]].labels)
        for metric in ("accuracy", "mcc"):
            test = seed_example_test(refs, [loss_cell.seeds[s].predictions for s in seeds],
                                     [acc_cell.seeds[s].predictions for s in seeds], metric, n_labels)
            row[f"loss_minus_accuracy_{metric}"] = {k: test[k] for k in ("delta", "low", "high", "p_value")}
        out[task] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-epochs", type=float, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run (--cpus-per-cell)")
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "bench-selection")
    args = parser.parse_args()
    folders = {s: args.work / f"select-{s}" for s in SETTINGS}
    load_before = os.getloadavg()[0]
    walls = {s: run(s, folders[s], args.seeds, args.max_epochs, args.threads) for s in SETTINGS}
    summary = {"date": date.today().isoformat(), "seeds": args.seeds, "max_epochs": args.max_epochs,
               "threads": args.threads, "cpu_count": os.cpu_count(),
               "recipe": "eval_steps=30, patience=2, batch 16, lr 1e-4, max_length 64, minilm-l6",
               "wall_seconds": walls, "load_average_1min_before": load_before,
               "load_average_1min_after": os.getloadavg()[0], "tasks": summarise(folders)}
    target = ROOT / "benchmarks" / "results" / f"{summary['date']}-selection.json"
    target.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
