"""How long `harness leaderboard`, `compare` and `report` take over a large results folder.

    python benchmarks/views_scale.py --tasks 14 --models 30 --seeds 5 --rows 5000   # the 2,100-record grid
    python benchmarks/views_scale.py --tasks 7 --models 30 --seeds 5 --rows 5000    # half of it (linearity)

Generates two results folders of hand-made records (3 classes, each task its own random test set,
predictions of chosen accuracy, and each row's class probabilities with their ECE and Brier as
`harness run` writes them unless --no-probabilities, no training) under --workdir, with empty stand-ins for the per-seed plot files that `harness run`
draws as each cell finishes (so `report` measures its own work, not matplotlib drawing 2 PNGs per
seed run, about 1 s each, which it does once for a folder that lacks them), then runs each command in its own process and measures its wall time,
CPU time (user + system of the child, every thread) and peak resident memory (ru_maxrss of the
child). `report` runs twice: on a folder without REPORT.md and summary.png (the summary figure is
drawn), then again on the unchanged folder (the figure is kept: `report_unchanged`). Figures are printed and written as JSON under
benchmarks/results/. Nothing is asserted: a shared machine makes timings noisy; the load average
is stored with each figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the record builder the tests use

LABELS = ["negative", "neutral", "positive"]


def _probabilities(predictions: list[int], seed: int):
    """Rows x 3 probabilities whose largest is the prediction's (0.4 to 0.99), the rest split at random."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(predictions)
    top = rng.uniform(0.4, 0.99, n)
    share = rng.uniform(0, 1, n)
    probs = np.empty((n, 3))
    preds = np.asarray(predictions)
    probs[np.arange(n), preds] = top
    probs[np.arange(n), (preds + 1) % 3] = (1 - top) * share
    probs[np.arange(n), (preds + 2) % 3] = (1 - top) * (1 - share)
    return probs


def generate(root: Path, tasks: int, models: int, seeds: int, rows: int, shift: float, probabilities: bool = True) -> int:
    from helpers import make_record, predictions_with_accuracy, write_results

    import numpy as np

    from harness.probabilities import calibration, encode

    from harness.views.plots import plot_filenames

    if root.exists() and any(root.rglob("seed-*.json")):
        for record in root.glob("*/*/seed-*.json"):  # the plots harness run draws (stand-ins, newer than the record)
            for name in plot_filenames(int(record.stem.split("-")[1])).values():
                (record.parent / name).touch()
        return sum(1 for _ in root.glob("*/*/seed-*.json"))
    records = []
    for t in range(tasks):
        refs = [int(r) for r in np.random.default_rng(t).integers(0, 3, rows)]  # each task its own test set
        for m in range(models):
            for s in range(seeds):
                accuracy = min(0.95, 0.55 + 0.012 * m + 0.01 * (s % 3) + shift)
                preds = predictions_with_accuracy(refs, accuracy, 3, seed=100_000 * t + 100 * m + s)
                record = make_record(f"task-{t:02d}", f"model-{m:02d}", s, refs, preds, LABELS)
                if probabilities:  # what `harness run` writes now: each row's class probabilities, their ECE and Brier
                    probs = _probabilities(preds, 100_000 * t + 100 * m + s)
                    record["probabilities"] = {"test": encode(probs)}
                    record["metrics"]["test"]["calibration"] = calibration(probs, refs, preds)
                records.append(record)
        write_results(root, records)
        records = []
    return generate(root, tasks, models, seeds, rows, shift, probabilities)


_CHILD = """
import resource, sys, time
from harness.cli.main import main
start = time.perf_counter()
code = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(f"@@ {time.perf_counter() - start} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}", file=sys.stderr)
sys.exit(code)
"""


def measure(argv: list[str]) -> dict[str, float]:
    """One command in its own process: its wall time (imports included) and its peak resident memory."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"harness {' '.join(argv)} failed: {done.stderr.strip()}")
    _, inside, rss_kb, cpu = done.stderr.strip().splitlines()[-1].split()
    # CPU seconds (user + system, imports included) depend much less on the machine's load than wall time
    return {"seconds": round(seconds, 2), "seconds_after_imports": round(float(inside), 2),
            "cpu_seconds": round(float(cpu), 2), "peak_rss_mb": round(int(rss_kb) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=14)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--workdir", default="/tmp/harness-views-scale")
    parser.add_argument("--commands", default="leaderboard,compare,report")
    parser.add_argument("--no-probabilities", action="store_true",
                        help="records without class probabilities (as written before they were kept)")
    args = parser.parse_args()
    kept = not args.no_probabilities
    # v2: each task its own test set, calibration in the records (v1 folders shared 3 test sets among the tasks)
    work = Path(args.workdir) / f"v2-{args.tasks}x{args.models}x{args.seeds}x{args.rows}{'-probabilities' if kept else ''}"
    t0 = time.perf_counter()
    n = generate(work / "base", args.tasks, args.models, args.seeds, args.rows, 0.0, kept)
    generate(work / "cand", args.tasks, args.models, args.seeds, args.rows, 0.005, kept)
    print(f"{n} records per folder ({time.perf_counter() - t0:.0f} s to generate or find)", flush=True)
    commands = {
        "leaderboard": ["leaderboard", str(work / "base"), "--output", str(work / "board.md")],
        "compare": ["compare", str(work / "cand"), "--baseline", str(work / "base"), "--output", str(work / "cmp.md")],
        "report": ["report", str(work / "base")],
    }
    figures = {}
    load_before = os.getloadavg()  # when the measurements start
    for name in args.commands.split(","):
        runs = {name: commands[name]}
        if name == "report":  # once drawing the summary figure (a new folder), once keeping it (unchanged results)
            for stale in (work / "base" / "REPORT.md", work / "base" / "summary.png"):
                stale.unlink(missing_ok=True)
            runs = {"report": commands[name], "report_unchanged": commands[name]}
        for label, argv in runs.items():
            figures[label] = {**measure(argv), "load_average": os.getloadavg()}
            print(f"{label}: {figures[label]['seconds']} s wall, {figures[label]['cpu_seconds']} s CPU, "
                  f"peak {figures[label]['peak_rss_mb']} MB (load {figures[label]['load_average'][0]:.1f})", flush=True)
    out = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "grid": {"tasks": args.tasks, "models": args.models, "seeds": args.seeds, "rows": args.rows, "records": n,
                 "probabilities": kept},
        "cpus": os.cpu_count(), "load_average_before": load_before, "load_average": os.getloadavg(), "figures": figures,
    }
    target = ROOT / "benchmarks" / "results" / f"{out['date'][:16].replace(':', '')}-views-{args.tasks}x{args.models}x{args.seeds}.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"written: {target}")


if __name__ == "__main__":
    main()
