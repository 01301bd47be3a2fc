"""Each speed lever of the harness measured on its own: the harness with its defaults, then the
harness with exactly one lever switched off (or changed), and the run_glue recipe for the
ratios. Every run is a fresh process (benchmarks/bench.py); medians over --repeats.

    python benchmarks/levers.py --repeats 3            # ~25 minutes on 2 CPU cores
    python benchmarks/levers.py --only bf16,threads    # some levers

Writes benchmarks/results/<date>-cpu-levers.json and prints the markdown table of
benchmarks/README.md. Levers the Recipe exposes are switched with `--set`; the others
(dynamic padding, attention kernel, bf16 copy for inference, the evaluation path, AdamW foreach,
frozen embeddings, the heap setting) are switched by patching harness.train inside that run's
process only (see bench.apply_levers).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402

# (key, what changes from the harness defaults, bench.py flags, runs: None = --repeats)
LEVERS: list[tuple[str, str, list[str], int | None]] = [
    ("defaults", "harness defaults (every lever on)", [], None),
    ("dynamic_padding", "dynamic padding off: every batch padded to 128", ["--pad-to-max-length"], None),
    ("length_grouping", "length-grouped training batches off (random batches)", ["--set", "length_grouping=false"], None),
    ("sorted_inference", "length-sorted inference off (input order)", ["--set", "sort_inference_by_length=false"], None),
    ("bf16", "bf16 off: fp32 training and inference", ["--precision", "fp32"], None),
    ("bf16_copy", "bf16 inference under autocast (fp32 weights) instead of a bf16 copy", ["--inference-autocast"], None),
    ("eval_batch_16", "inference batch 16 (= training batch) instead of 64", ["--set", "eval_batch_size=16"], None),
    ("eval_batch_256", "inference batch 256 instead of 64", ["--set", "eval_batch_size=256"], None),
    ("trainer_eval", "Trainer.evaluate in the loop + validation scored again at the end", ["--trainer-eval"], None),
    ("eager_attention", "eager attention instead of SDPA", ["--attn", "eager"], None),
    ("adamw_forloop", "AdamW adamw_torch (for-loop on CPU) instead of adamw_torch_fused", ["--set", "optim=adamw_torch"], None),
    ("adamw_foreach", "AdamW foreach=True instead of fused", ["--set", "optim=adamw_torch", "--adamw-foreach"], None),
    ("threads_1", "torch.set_num_threads(1) instead of 2", ["--threads", "1"], None),
    ("glibc_heap", "glibc's default heap (mmap + trim: page faults every step)", ["--no-keep-heap"], None),
    ("frozen_embeddings", "word embeddings frozen (candidate option, not a default)", ["--freeze-word-embeddings"], None),
    ("torch_compile", "torch.compile on (compile time counted in the steps)", ["--set", "torch_compile=true"], 1),
]

FIELDS = ("train_samples_per_s", "eval_samples_per_s", "train_tokens_per_s", "eval_tokens_per_s", "mfu", "eval_mfu",
          "accuracy", "cell_wall_seconds", "train_wall_seconds", "train_seconds", "eval_seconds")


def summarise(runs: list[dict]) -> dict:
    out = {k: statistics.median(r[k] for r in runs) for k in FIELDS if all(r.get(k) is not None for r in runs)}
    for key in ("tokenize_first_seconds", "tokenize_cached_seconds", "train_padded_tokens", "train_real_tokens",
                "precision", "eval_weights", "threads", "levers"):
        if key in runs[0]:
            out[key] = runs[0][key] if not isinstance(runs[0][key], (int, float)) or key == "threads" else \
                statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    out["loadavg_1min"] = [r.get("loadavg_1min") for r in runs]
    return out


def _spread(result: dict, key: str, field: str) -> str:
    """median (min-max) of one figure over the runs of one lever."""
    values = [run[field] for run in result["raw"][key]]
    middle = statistics.median(values)
    return f"{middle:.1f} ({min(values):.0f}–{max(values):.0f})" if len(values) > 1 else f"{middle:.1f}"


def markdown(result: dict) -> str:
    """The table of benchmarks/README.md: medians (min–max over the runs), and each lever's gain:
    the defaults' median over the median with that lever off (> 1: the lever speeds things up)."""
    recipe, defaults = result["recipe"], result["levers"]["defaults"]
    lines = [
        "| lever (one change from the harness defaults) | train samples/s | gain of the lever, train "
        "| inference samples/s | gain of the lever, inference | test accuracy | cell wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| run_glue recipe (fp32, pad 128, plain Trainer) | {_spread(result, 'recipe', 'train_samples_per_s')} "
        f"| {defaults['train_samples_per_s'] / recipe['train_samples_per_s']:.2f}× (harness / recipe) "
        f"| {_spread(result, 'recipe', 'eval_samples_per_s')} "
        f"| {defaults['eval_samples_per_s'] / recipe['eval_samples_per_s']:.2f}× (harness / recipe) "
        f"| {recipe['accuracy']:.4f} | |",
    ]
    for key, what, _, _ in LEVERS:
        if key not in result["levers"]:
            continue
        r = result["levers"][key]
        gains = ("", "") if key == "defaults" else (
            f"{defaults['train_samples_per_s'] / r['train_samples_per_s']:.2f}×",
            f"{defaults['eval_samples_per_s'] / r['eval_samples_per_s']:.2f}×",
        )
        lines.append(
            f"| {what} | {_spread(result, key, 'train_samples_per_s')} | {gains[0]} "
            f"| {_spread(result, key, 'eval_samples_per_s')} | {gains[1]} | {r['accuracy']:.4f} "
            f"| {r['cell_wall_seconds']:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="comma-separated lever keys (defaults always runs)")
    parser.add_argument("--no-recipe", action="store_true", help="skip the recipe runs")
    parser.add_argument("--table", metavar="JSON", help="print the markdown table of an earlier run's JSON and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(Path(args.table).read_text())))
        return 0
    only = set(args.only.split(",")) | {"defaults"} if args.only else None
    cache = tempfile.TemporaryDirectory(prefix="bench-cache-")
    env = {"HARNESS_CACHE": cache.name, "BENCH_LR": str(bench.LEARNING_RATE)}
    peaks = bench.measure_peaks(env)
    chosen = [lever for lever in LEVERS if only is None or lever[0] in only]
    runs: dict[str, list[dict]] = {key: [] for key, *_ in chosen}
    recipe_runs: list[dict] = []
    for repeat in range(args.repeats):  # rounds: every lever once per round, so drift spreads evenly
        if not args.no_recipe:
            recipe_runs.append(bench.run_way("recipe", env=env))
            print(f"round {repeat + 1}: recipe {recipe_runs[-1]['train_samples_per_s']:.1f} train/s", flush=True)
        for key, what, flags, count in chosen:
            if count is not None and repeat >= count:
                continue
            runs[key].append(bench.run_way("harness", *flags, env=env))
            r = runs[key][-1]
            print(f"round {repeat + 1}: {key:18s} train {r['train_samples_per_s']:7.1f}/s  "
                  f"inference {r['eval_samples_per_s']:7.1f}/s  acc {r['accuracy']:.4f}  load {r['loadavg_1min']}", flush=True)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "peak_flops": {p: v["flops"] for p, v in peaks.items()},
        "settings": {"model": bench.MODEL, "steps": bench.STEPS, "batch_size": bench.BATCH,
                     "learning_rate": bench.LEARNING_RATE, "max_length": bench.MAX_LENGTH, "rows": bench.SIZES},
        "recipe": summarise(recipe_runs) if recipe_runs else None,
        "levers": {key: summarise(value) for key, value in runs.items() if value},
        "raw": {"recipe": recipe_runs, **runs},
    }
    folder = HERE / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{result['date']}-cpu-levers.json"
    path.write_text(json.dumps(result, indent=1))
    cache.cleanup()
    if result["recipe"]:
        print(markdown(result))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
