"""Calibration of the significance test: how often `harness compare` and the leaderboard's dagger
go wrong on noise, and how large a drop they catch.

    python benchmarks/calibration.py                  # trains once (cached), then many resplits
    python benchmarks/calibration.py --splits 400 --tasks demo-nli-en,demo-dialogue-fr

1. Train `--seeds` (10) seeds of one model (`minilm-l6`, the packaged offline MiniLM) on each task
   with the same recipe (the demo suite's small budget) through `harness run`; the records are
   cached in benchmarks/.calibration-runs/ and reused.
2. Null comparisons: split the seeds into two disjoint halves of k (3 or 5), many ways at random;
   candidate and baseline are the same configuration trained with other seeds, so any verdict other
   than "unchanged" is a false alarm. The halves' seeds are renumbered 0..k-1 (seed pairing by number
   would otherwise find no common seed), then `compare()` runs with its defaults (alpha 0.05,
   --max-drop 0.5). The same halves as two models of a leaderboard: how often the model identical to
   the best is denied its dagger.
3. Power: the candidate half's predictions are damaged (each seed loses exactly `drop` points of
   accuracy: that many correct test predictions switched to a wrong label) and compared again.
4. For contrast with the demo task's unstable short fine-tunes, a synthetic row (`Synthetic`: a stable
   model on 1,000 test examples, fresh seeds drawn for every split; labelled as such, not a fine-tune).
5. For contrast, two other tests on the same splits: the example-only paired bootstrap the harness
   used before (seeds held fixed), and a naive two-level bootstrap (seed pairs, then test examples,
   resampled with replacement, percentile p).

Prints a markdown table and writes benchmarks/results/calibration-<date>.json. Measured figures, never
asserted: this is not a test.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.views.compare import compare  # noqa: E402
from harness.views.leaderboard import build_leaderboard  # noqa: E402
from harness.records.grouping import Cell, SeedRun, cells_from_records  # noqa: E402
from harness.stats import metric_on_resamples, resample_weights  # noqa: E402
from harness.records.store import load_records  # noqa: E402

BUDGET = ["--set", "max_epochs=2", "--set", "learning_rate=2e-4", "--set", "max_length=64", "--set", "patience=2"]
DROPS = (2.0, 5.0, 10.0)


def train(tasks: list[str], model: str, seeds: int, runs: Path) -> None:
    from harness.cli.main import main

    code = main(["run", "--tasks", ",".join(tasks), "--models", model, "--seed-list",
                 ",".join(map(str, range(seeds))), "--results", str(runs), "--no-plots", "--no-leaderboard", *BUDGET])
    if code != 0:
        raise SystemExit(f"training failed (exit {code}); see the records in {runs}")


def seed_runs(runs: Path, task: str, model: str) -> list[SeedRun]:
    """The completed seeds of one cell, in seed order."""
    cells, _ = cells_from_records(r for r in load_records(runs) if r.task == task and r.model == model)
    cell = cells.get((task, model))
    return [cell.seeds[s] for s in sorted(cell.seeds)] if cell else []


class Synthetic:
    """Not a fine-tune: a stable model on a 1,000-example binary test set, for contrast with the demo
    task's unstable short fine-tunes; every split draws fresh seeds (independent null comparisons).
    Example x is answered right by seed s with probability sigmoid(a_x + b_s): a_x ~ N(2, 1.5) makes
    some examples hard for every seed (errors agree across seeds, as real fine-tunes' do), and
    b_s ~ N(0, 0.1) is a seed's luck (about 1 point of accuracy)."""

    def __init__(self, n: int = 1000, seed: int = 2026):
        self.rng = np.random.default_rng(seed)
        self.refs = self.rng.integers(0, 2, n)
        self.ease = self.rng.normal(2.0, 1.5, n)

    def draw(self, count: int) -> list[SeedRun]:
        out = []
        for seed in range(count):
            right = self.rng.random(len(self.refs)) < 1 / (1 + np.exp(-(self.ease + self.rng.normal(0, 0.1))))
            preds = np.where(right, self.refs, 1 - self.refs)
            accuracy = float(right.mean())
            out.append(SeedRun(seed, preds.tolist(), self.refs.tolist(), ["no", "yes"], "synthetic", f"syn-{seed}",
                               {}, {"accuracy": accuracy, "macro_f1": accuracy}))
        return out


def renumbered(task: str, model: str, runs: list[SeedRun]) -> dict:
    cell = Cell(task, model)
    for i, run in enumerate(runs):
        cell.seeds[i] = SeedRun(i, run.predictions, run.references, run.labels, run.data_fingerprint,
                                f"{run.config_hash}-{i}", run.provenance, run.metrics)
    return {(task, model): cell}


def damaged(runs: list[SeedRun], drop: float, rng: random.Random) -> list[SeedRun]:
    """Each run with round(drop% x n) of its correct predictions switched to another label."""
    out = []
    for run in runs:
        preds = list(run.predictions)
        right = [i for i, (p, r) in enumerate(zip(preds, run.references)) if p == r]
        k = len(run.labels)
        for i in rng.sample(right, min(len(right), round(drop / 100 * len(preds)))):
            preds[i] = (run.references[i] + rng.randrange(1, k)) % k
        out.append(SeedRun(run.seed, preds, run.references, run.labels, run.data_fingerprint, run.config_hash,
                           run.provenance, run.metrics))
    return out


def as_records(task: str, model: str, runs: list[SeedRun]) -> list[dict]:
    """Minimal result records for the leaderboard (what it reads)."""
    return [{"task": task, "model": model, "seed": i, "status": "completed", "labels": run.labels,
             "metrics": {"test": {"accuracy": run.metrics["accuracy"], "macro_f1": run.metrics["macro_f1"],
                                  "n": len(run.references)}},
             "predictions": {"test": run.predictions}, "references": {"test": run.references},
             "config": {"task": {"data_fingerprint": run.data_fingerprint}}, "provenance": run.provenance}
            for i, run in enumerate(runs)]


def example_only_p(cand: list[SeedRun], base: list[SeedRun], resamples: int = 2000) -> float:
    """The harness's former test: paired bootstrap over test examples, seeds held fixed."""
    refs = base[0].references
    w = resample_weights(len(refs), resamples, 0)
    n_labels = len(base[0].labels)
    deltas = sum(metric_on_resamples(refs, c.predictions, w, "accuracy", n_labels)
                 - metric_on_resamples(refs, b.predictions, w, "accuracy", n_labels) for c, b in zip(cand, base))
    return min(1.0, 2 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))


def two_level_p(cand: list[SeedRun], base: list[SeedRun], rng: np.random.Generator, resamples: int = 2000) -> float:
    """A naive two-level bootstrap: seed pairs with replacement, then test examples; percentile p."""
    refs = base[0].references
    n_labels = len(base[0].labels)
    w = resample_weights(len(refs), resamples, 1)
    per_pair = np.stack([metric_on_resamples(refs, c.predictions, w, "accuracy", n_labels)
                         - metric_on_resamples(refs, b.predictions, w, "accuracy", n_labels) for c, b in zip(cand, base)])
    picks = rng.integers(0, len(cand), size=(resamples, len(cand)))
    deltas = per_pair[picks, np.arange(resamples)[:, None]].mean(axis=1)
    return min(1.0, 2 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))


def calibrate(task: str, model: str, runs: list[SeedRun] | Synthetic, k: int, splits: int, seed: int) -> dict:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    null = {"regressed": 0, "significant": 0, "dagger_withheld": 0, "example_only": 0, "two_level": 0}
    detectable: list[float] = []
    power = {d: 0 for d in DROPS}
    for _ in range(splits):
        chosen = runs.draw(2 * k) if isinstance(runs, Synthetic) else rng.sample(runs, 2 * k)
        cand, base = chosen[:k], chosen[k:]
        result = compare(renumbered(task, model, cand), renumbered(task, model, base), metrics=["accuracy"])
        (row,) = result.comparisons
        null["regressed"] += row.status == "regressed"
        null["significant"] += row.significant
        detectable.append(row.detectable_drop)
        board = build_leaderboard(as_records(task, "a", cand) + as_records(task, "b", base))
        other = [c for c in (board.cells[("accuracy", task, "a")], board.cells[("accuracy", task, "b")]) if not c.best]
        null["dagger_withheld"] += bool(other) and not other[0].tie
        null["example_only"] += example_only_p(cand, base) < 0.05
        null["two_level"] += two_level_p(cand, base, nrng) < 0.05
        for drop in DROPS:
            worse = compare(renumbered(task, model, damaged(cand, drop, rng)), renumbered(task, model, base),
                            metrics=["accuracy"])
            power[drop] += worse.regressed
    return {
        "task": task, "k": k, "splits": splits, "n_test": len(chosen[0].references),
        "false_alarm_compare": null["regressed"] / splits,
        "significant_either_way": null["significant"] / splits,
        "dagger_withheld": null["dagger_withheld"] / splits,
        "example_only_bootstrap_significant": null["example_only"] / splits,
        "two_level_bootstrap_significant": null["two_level"] / splits,
        "detectable_drop_median": float(np.median(detectable)),
        "detectable_drop_iqr": [float(np.quantile(detectable, 0.25)), float(np.quantile(detectable, 0.75))],
        "power": {f"{d:g}": power[d] / splits for d in DROPS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="demo-nli-en")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--splits", type=int, default=100)
    parser.add_argument("--ks", default="3,5")
    parser.add_argument("--runs", default=str(ROOT / "benchmarks" / ".calibration-runs"))
    parser.add_argument("--no-train", action="store_true", help="use the cached records only")
    parser.add_argument("--no-synthetic", action="store_true", help="leave out the synthetic stable-model row")
    args = parser.parse_args()
    tasks, runs_dir = args.tasks.split(","), Path(args.runs)
    started = time.perf_counter()
    if not args.no_train:
        train(tasks, args.model, args.seeds, runs_dir)
    trained = time.perf_counter() - started
    rows = []
    for task in tasks + ([] if args.no_synthetic else ["synthetic-1000"]):
        synthetic = task == "synthetic-1000"
        runs = Synthetic() if synthetic else seed_runs(runs_dir, task, args.model)
        accuracies = [] if synthetic else [100 * r.metrics["accuracy"] for r in runs]
        print(f"{task}: " + ("fresh synthetic seeds every split" if synthetic else
                             f"{len(runs)} seeds, test accuracy {', '.join(f'{a:.1f}' for a in accuracies)}"))
        for k in map(int, args.ks.split(",")):
            if not synthetic and 2 * k > len(runs):
                print(f"  k={k}: needs {2 * k} seeds, have {len(runs)}; skipped")
                continue
            row = calibrate(task, args.model, runs, k, args.splits, seed=k)
            row["seed_accuracies"] = accuracies
            rows.append(row)
    print("\n| task (test n) | seeds a side | compare: false alarms | leaderboard: † withheld | "
          "example-only bootstrap | naive two-level bootstrap | detectable drop (median) | "
          "power at -2 / -5 / -10 points |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p = r["power"]
        print(f"| {r['task']} ({r['n_test']}) | {r['k']} | {100 * r['false_alarm_compare']:.1f}% | "
              f"{100 * r['dagger_withheld']:.1f}% | {100 * r['example_only_bootstrap_significant']:.1f}% | "
              f"{100 * r['two_level_bootstrap_significant']:.1f}% | {r['detectable_drop_median']:.1f} | "
              f"{100 * p['2']:.0f}% / {100 * p['5']:.0f}% / {100 * p['10']:.0f}% |")
    total = time.perf_counter() - started
    out = ROOT / "benchmarks" / "results" / f"{dt.date.today().isoformat()}-calibration.json"
    out.write_text(json.dumps({"model": args.model, "budget": BUDGET, "splits": args.splits, "rows": rows,
                               "seconds": {"train": round(trained, 1), "total": round(total, 1)}}, indent=1) + "\n")
    print(f"\n{total:.0f} s ({trained:.0f} s training); wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
