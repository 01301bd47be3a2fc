"""Grid wall time: the local executor against Ray on this machine (not a test; run by hand).

    .venv/bin/python benchmarks/grid_executors.py [--cells 8] [--steps 30]

8 small cells (minilm-l6 x seeds 0..7 on the project-written review corpus, `--steps` optimizer
steps of batch 16, 256 validation / test rows each) run twice into fresh results folders:
  local: one process, the cells one after another, 2 threads (both cores);
  ray:   a local Ray instance with 2 CPUs, 2 workers of 1 thread each (--cpus-per-cell 1).
Reports the grid wall time (command start to exit, Ray start-up included), the time inside
the cells (from the records' started_at / finished_at) and Ray's overhead per cell: its wall
time x workers minus the time spent inside cells, divided by the cells. Writes
benchmarks/results/<date>-grid-executors.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench  # noqa: E402  (the corpus task writer)
from harness.device import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run_grid(executor: str, root: Path, tasks_dir: Path, data_dir: Path, cells: int, steps: int) -> dict:
    results = root / f"results-{executor}"
    cmd = [
        str(ROOT / ".venv" / "bin" / "harness"), "--tasks-dir", str(tasks_dir), "run", "--tasks", bench.TASK,
        "--models", "minilm-l6", "--seeds", str(cells), "--data-dir", str(data_dir), "--results", str(results),
        "--set", f"max_steps={steps}", "--set", "batch_size=16", "--set", "patience=null",
        "--set", f"eval_steps={steps}", "--max-eval-samples", "256", "--no-plots", "--no-leaderboard",
        "--executor", executor,
    ] + (["--cpus-per-cell", "1"] if executor == "ray" else ["--cpus-per-cell", "2"])
    env = {**os.environ, "HARNESS_CACHE": str(root / "cache")}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{executor} grid failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    inside = []
    for path in sorted(results.glob("*/*/seed-*.json")):
        prov = json.loads(path.read_text())["provenance"]
        inside.append(datetime.fromisoformat(prov["finished_at"]).timestamp()
                      - datetime.fromisoformat(prov["started_at"]).timestamp())
    return {"wall_seconds": wall, "cells": len(inside), "seconds_inside_cells": sum(inside),
            "mean_cell_seconds": sum(inside) / len(inside)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tasks_dir, data_dir = bench.write_task(root)
        local = run_grid("local", root, tasks_dir, data_dir, args.cells, args.steps)
        ray = run_grid("ray", root, tasks_dir, data_dir, args.cells, args.steps)
    workers = 2
    ray["overhead_per_cell_seconds"] = (ray["wall_seconds"] * workers - ray["seconds_inside_cells"]) / ray["cells"]
    local["overhead_per_cell_seconds"] = (local["wall_seconds"] - local["seconds_inside_cells"]) / local["cells"]
    result = {
        "date": date.today().isoformat(), "cpu": cpu_model(),
        "cores": os.cpu_count(), "cells": args.cells, "steps": args.steps, "local": local, "ray": ray,
        "speedup": local["wall_seconds"] / ray["wall_seconds"],
    }
    print(f"{'executor':8} {'grid wall s':>12} {'in cells s':>11} {'mean cell s':>12} {'overhead/cell s':>16}")
    for name in ("local", "ray"):
        r = result[name]
        print(f"{name:8} {r['wall_seconds']:12.1f} {r['seconds_inside_cells']:11.1f} {r['mean_cell_seconds']:12.1f} "
              f"{r['overhead_per_cell_seconds']:16.1f}")
    print(f"ray / local speed-up of the grid: {result['speedup']:.2f}x")
    out = Path(__file__).parent / "results" / f"{date.today().isoformat()}-grid-executors.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
