"""Throughput benchmark: the harness's fast paths against the run_glue recipe, side by side.

Each way runs in its own fresh Python process (same machine, one after the other), so neither
inherits the other's threads, allocator state or warm caches:

    python benchmarks/bench.py recipe  --out r.json       # plain Trainer, pad to 128, fp32
    python benchmarks/bench.py harness --out h.json       # harness.train.fine_tune_cell, defaults
    python benchmarks/bench.py harness --out h.json --set length_grouping=false   # one lever off

Both fine-tune `minilm-l6` for STEPS optimizer steps of BATCH rows at LEARNING_RATE on the
project-written review corpus (benchmarks/corpus.py), then score its test split. Training
throughput is timed the harness's way for both (optimizer steps only: forward, backward, clip,
update; data collation and evaluation are outside the window), inference over the whole test
split after one warm-up batch. tokens/s counts real (non-padding) tokens;
MFU = 6 x non-embedding parameters x real tokens/s / peak FLOP/s (inference: 2 x), with the peak
of the precision each way computes in (measured by harness.device.peak_flops on this CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# Environment overrides (the GPU run in README.md uses them): BENCH_MODEL, BENCH_STEPS, BENCH_BATCH, BENCH_LR,
# BENCH_LENGTHS.
MODEL = os.environ.get("BENCH_MODEL", "minilm-l6")  # or "bert-base-random": BERT-base size, random weights
LENGTHS = os.environ.get("BENCH_LENGTHS", "natural")  # or "full": every text runs past 128 tokens
STEPS = int(os.environ.get("BENCH_STEPS", "60"))
BATCH = int(os.environ.get("BENCH_BATCH", "16"))
LEARNING_RATE = float(os.environ.get("BENCH_LR", "1e-4"))  # both ways reach ~99% in 60 steps
MAX_LENGTH = 128  # run_glue's max_seq_length; the harness gets the same truncation
SIZES = {"train": STEPS * BATCH, "validation": 256, "test": 1024}  # train: exactly one epoch for both ways
SEED = 0
TASK = "bench-reviews"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# --------------------------------------------------------------------------- data
def write_task(root: Path) -> tuple[Path, Path]:
    """The corpus as a harness task in the generic local layout: (tasks_dir, data_dir)."""
    import yaml

    from corpus import LABELS, make_splits

    data_dir, tasks_dir = root / "data", root / "tasks"
    folder = data_dir / TASK
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in make_splits(**SIZES, seed=SEED).items():
        if LENGTHS == "full":
            rows = full_length(rows)
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    tasks_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "family": TASK,
        "tasks": [{
            "name": TASK, "language": "en", "description": "Review sentiment written for the throughput benchmark.",
            "text": "sentence", "label": "label", "labels": LABELS, "reader": "jsonl",
            "splits": {"train": {}, "validation": {}, "test": {}},
        }],
    }
    (tasks_dir / f"{TASK}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return tasks_dir, data_dir


def full_length(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's review followed by the next reviews of its split until it is long enough to be
    truncated at 128 tokens by both ways: a fixed sequence length of 128 (the GPU MFU measurement).
    The label stays the row's own."""
    out = []
    for i, row in enumerate(rows):
        text, j = row["sentence"], i
        while len(text) < 1000:
            j += 1
            text += " " + rows[j % len(rows)]["sentence"]
        out.append({**row, "sentence": text})
    return out


def load_data(root: Path):
    from harness.data.tasks import get_task, load_registry, load_task

    tasks_dir, data_dir = write_task(root)
    return load_task(get_task(TASK, load_registry([tasks_dir])), data_dir)


def model_spec():
    """minilm-l6 from models.yaml, or `bert-base-random`: a BERT-base-sized encoder (12 layers,
    hidden 768, 110M parameters) with random weights (seed 0) and MiniLM's uncased WordPiece
    tokenizer (the same 30522-token vocabulary), written to a local folder."""
    from harness.spec.models import load_models
    from harness.spec.model import ModelSpec

    registry = load_models()
    if MODEL != "bert-base-random":
        return registry.get(MODEL)
    import torch
    from transformers import BertConfig, BertModel

    from harness.train.model import load_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="bench-bert-base-"))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=512)).save_pretrained(folder)
    load_tokenizer(registry.get("minilm-l6")).save_pretrained(folder)
    return ModelSpec(name="bert-base-random", source=str(folder))


def _hf_quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()


def _peaks() -> dict[str, Any]:
    from harness.device import peak_flops

    return {p: peak_flops(p) for p in ("fp32", "bf16")}


# --------------------------------------------------------------------------- the harness
def run_harness(args) -> dict[str, Any]:
    """harness.train.fine_tune_cell with the harness's defaults (precision auto), the shared
    step budget, batch and learning rate, and any `--set` / lever flags."""
    import torch

    from harness.train import finetune as train
    from harness.device import resolve_precision
    from harness.spec.recipe import resolve_recipe

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_keep_heap:
        os.environ["HARNESS_CPU_KEEP_HEAP"] = "0"
    _hf_quiet()
    root = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    data = load_data(root)
    spec = model_spec()

    # Tokenization cached by the data fingerprint: the first call writes the cache file, the second reads it.
    # Timed in a fresh cache folder, so the first call really tokenizes.
    tokenizer = train.load_tokenizer(spec)
    tok_times = []
    saved = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(root / "tokenize-timing")
    try:
        for _ in range(2):
            start = time.perf_counter()
            train.tokenize_split(data.splits["train"], tokenizer, ["sentence"], MAX_LENGTH, f"bench-{spec.name}")
            tok_times.append(time.perf_counter() - start)
    finally:
        if saved is None:
            os.environ.pop("HARNESS_CACHE")
        else:
            os.environ["HARNESS_CACHE"] = saved

    levers = apply_levers(args)
    overrides = {"learning_rate": LEARNING_RATE, "batch_size": BATCH, "max_steps": STEPS, "max_length": MAX_LENGTH}
    for item in args.set or []:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    recipe = resolve_recipe((overrides, "benchmark"))
    precision = resolve_precision(args.precision)
    from harness.device import choose_device
    from harness.planning.identity import resolve_identity

    run = train.CellRun(data=data, model=spec, identity=resolve_identity(spec), device=choose_device(), recipe=recipe,
                        seed=SEED, precision=precision, output_dir=root)
    start = time.perf_counter()
    result = train.fine_tune_cell(run)  # the typed CellResult
    cell_wall = time.perf_counter() - start
    tp = result.throughput.as_json()
    return {
        "way": "harness",
        "precision": precision,
        "learning_rate": recipe.learning_rate,
        "batch_size": recipe.batch_size,
        "recipe": recipe.model_dump(),
        "levers": levers,
        "threads": torch.get_num_threads(),
        "train_samples_per_s": tp["train_samples_per_s"],
        "train_tokens_per_s": tp["train_tokens_per_s"],
        "train_padded_tokens_per_s": tp["train_padded_tokens_per_s"],
        "train_seconds": tp["train_seconds"],
        "train_wall_seconds": tp["train_wall_seconds"],
        "train_samples": tp["train_samples"],
        "train_real_tokens": tp["train_real_tokens"],
        "train_padded_tokens": tp["train_padded_tokens"],
        "eval_samples_per_s": tp["eval_samples_per_s"],
        "eval_tokens_per_s": tp["eval_tokens_per_s"],
        "eval_seconds": tp["eval_seconds"],
        "eval_weights": tp.get("eval_weights"),
        "mfu": tp["mfu"],
        "eval_mfu": tp["eval_mfu"],
        "peak_flops": tp["peak_flops"],
        "non_embedding_parameters": tp["non_embedding_parameters"],
        "steps": result.training.steps,
        "accuracy": result.metrics.test.accuracy,
        "validation_accuracy": result.metrics.validation.accuracy,
        "cell_wall_seconds": cell_wall,
        "tokenize_first_seconds": tok_times[0],
        "tokenize_cached_seconds": tok_times[1],
        "peak_memory_mb": tp.get("peak_memory_mb"),
    }


def apply_levers(args) -> list[str]:
    """Levers the Recipe does not expose, switched off by patching the harness in this process
    only (each benchmark way runs in its own process). The model is built and the Trainer made in
    harness.train.trainer, so that is the module patched."""
    from harness.train import finetune
    from harness.train import trainer as train

    done = []
    if args.pad_to_max_length:  # no dynamic padding: every batch padded to MAX_LENGTH
        import transformers

        base = transformers.DataCollatorWithPadding

        def padded(tokenizer, **kwargs):
            kwargs.update(padding="max_length", max_length=MAX_LENGTH)
            return base(tokenizer, **kwargs)

        transformers.DataCollatorWithPadding = padded
        done.append("pad_to_max_length")
    if args.attn:  # attention kernel: sdpa (transformers' default for BERT) or eager
        build = train.build_model

        def build_with_attention(*a, **k):
            model = build(*a, **k)
            model.set_attn_implementation(args.attn)
            return model

        train.build_model = build_with_attention
        done.append(f"attn_implementation={args.attn}")
    if args.inference_autocast:  # predict under autocast with fp32 weights instead of a bf16 copy
        finetune.inference_weights = lambda precision, device_type: "autocast-bf16" if precision == "bf16" else "fp32"
        done.append("inference_autocast")
    if args.trainer_eval:  # evaluate with Trainer.evaluate, then score validation again at the end
        make = train._make_callbacks

        def plain_eval():
            StepMeter, BestState, CountingTrainer = make()

            class TrainerEval(CountingTrainer):
                fast_eval = property(lambda self: None, lambda self, value: None)

            return StepMeter, BestState, TrainerEval

        train._make_callbacks = plain_eval
        done.append("trainer_eval")
    if args.adamw_foreach:  # torch.optim.AdamW(foreach=True) for optim=adamw_torch (transformers passes no flag)
        import torch

        class ForeachAdamW(torch.optim.AdamW):
            def __init__(self, params, **kwargs):
                kwargs.pop("fused", None)
                super().__init__(params, foreach=True, **kwargs)

        torch.optim.AdamW = ForeachAdamW
        done.append("adamw_foreach")
    if args.freeze_word_embeddings:  # a candidate option: no gradient, no AdamW state for the 30522 x 384 table
        build_frozen = train.build_model

        def build_with_frozen_embeddings(*a, **k):
            model = build_frozen(*a, **k)
            model.get_input_embeddings().weight.requires_grad_(False)
            return model

        train.build_model = build_with_frozen_embeddings
        done.append("freeze_word_embeddings")
    if args.threads:
        done.append(f"threads={args.threads}")
    if args.no_keep_heap:
        done.append("no_keep_heap")
    return done


# --------------------------------------------------------------------------- the recipe
def run_recipe(args) -> dict[str, Any]:
    """The run_glue recipe: every sequence padded to 128, default_data_collator, fp32, plain
    Trainer with its defaults (adamw_torch, linear schedule without warmup, no weight decay, no
    length grouping, no evaluation during training, no early stopping), trainer.predict on test."""
    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, Trainer, TrainingArguments,
                              default_data_collator, set_seed)

    from harness.train import finetune as train
    from harness.train.model import count_parameters
    from harness.planning.identity import resolve_source

    if args.threads:
        torch.set_num_threads(args.threads)
    _hf_quiet()
    root = Path(tempfile.mkdtemp(prefix="bench-recipe-"))
    data = load_data(root)
    spec = model_spec()
    location, _ = resolve_source(spec)
    tokenizer = train.load_tokenizer(spec)

    def encode(batch):
        return tokenizer(batch["sentence"], padding="max_length", max_length=MAX_LENGTH, truncation=True)

    splits = {name: ds.map(encode, batched=True, remove_columns=["sentence"]) for name, ds in data.splits.items()}
    set_seed(SEED)
    model = AutoModelForSequenceClassification.from_pretrained(location, num_labels=2)
    StepMeter, _, _ = train._make_callbacks()  # the harness's step timer: the same window for both ways
    meter = StepMeter()

    class MeteredTrainer(Trainer):
        """Counts samples and real tokens of each training batch; changes nothing else."""

        def training_step(self, model, inputs, num_items_in_batch=None):
            meter.real_tokens += int(inputs["attention_mask"].sum())
            meter.padded_tokens += int(inputs["attention_mask"].numel())
            meter.samples += int(inputs["attention_mask"].shape[0])
            return super().training_step(model, inputs, num_items_in_batch)

    training_args = TrainingArguments(
        output_dir=str(root / "out"), per_device_train_batch_size=BATCH, learning_rate=LEARNING_RATE,
        max_steps=STEPS, optim="adamw_torch", seed=SEED, save_strategy="no", report_to="none",
        disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
    )
    trainer = MeteredTrainer(model=model, args=training_args, train_dataset=splits["train"],
                             processing_class=tokenizer, data_collator=default_data_collator, callbacks=[meter])
    start = time.perf_counter()
    trainer.train()
    train_wall = time.perf_counter() - start

    test = splits["test"]
    trainer.predict(test.select(range(training_args.per_device_eval_batch_size)))  # warm-up, not timed
    start = time.perf_counter()
    output = trainer.predict(test)
    eval_seconds = time.perf_counter() - start
    preds = np.argmax(output.predictions, axis=-1)
    refs = np.asarray(test["label"])
    real_eval = int(np.asarray(test["attention_mask"]).sum())
    params = count_parameters(model)["non_embedding"]
    peak = _peaks()["fp32"]["flops"]
    train_tok_s = meter.real_tokens / meter.seconds
    eval_tok_s = real_eval / eval_seconds
    return {
        "way": "recipe",
        "precision": "fp32",
        "learning_rate": training_args.learning_rate,
        "batch_size": training_args.per_device_train_batch_size,
        "threads": torch.get_num_threads(),
        "optim": training_args.optim.value if hasattr(training_args.optim, "value") else str(training_args.optim),
        "eval_batch_size": training_args.per_device_eval_batch_size,
        "train_samples_per_s": meter.samples / meter.seconds,
        "train_tokens_per_s": train_tok_s,
        "train_padded_tokens_per_s": meter.padded_tokens / meter.seconds,
        "train_seconds": meter.seconds,
        "train_wall_seconds": train_wall,
        "train_samples": meter.samples,
        "train_real_tokens": meter.real_tokens,
        "train_padded_tokens": meter.padded_tokens,
        "eval_samples_per_s": len(refs) / eval_seconds,
        "eval_tokens_per_s": eval_tok_s,
        "eval_seconds": eval_seconds,
        "mfu": 6 * params * train_tok_s / peak,
        "eval_mfu": 2 * params * eval_tok_s / peak,
        "peak_flops": peak,
        "non_embedding_parameters": params,
        "steps": int(trainer.state.global_step),
        "accuracy": float((preds == refs).mean()),
    }


# --------------------------------------------------------------------------- orchestration
def run_way(way: str, *flags: str, env: dict[str, str] | None = None, timeout: float = 900) -> dict[str, Any]:
    """One way in a fresh process; returns its JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-way-") as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, str(HERE / "bench.py"), way, "--out", str(out), *flags]
        load_before = os.getloadavg()[0]
        subprocess.run(cmd, check=True, timeout=timeout, env={**os.environ, **(env or {})})
        result = json.loads(out.read_text())
        result["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return result


RATIO_KEYS = ("train_samples_per_s", "eval_samples_per_s", "train_tokens_per_s", "eval_tokens_per_s")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median training throughput, with every throughput field replaced by its median."""
    if len(runs) == 1:
        return dict(runs[0])
    order = sorted(runs, key=lambda r: r["train_samples_per_s"])
    out = dict(order[len(order) // 2])
    for key in (*RATIO_KEYS, "mfu", "eval_mfu"):
        out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = runs
    return out


def measure_peaks(env: dict[str, str]) -> dict[str, Any]:
    """harness.device.peak_flops for fp32 and bf16 in a fresh process: measured once (2048^2
    matmul, best of 6) into the cache folder `env` names, which both ways then read."""
    code = "import json, sys; sys.path.insert(0, %r); import bench; print(json.dumps(bench._peaks()))" % str(HERE)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(repeats: int = 1, cache_dir: str | None = None, lr: float | None = None) -> dict[str, Any]:
    """Recipe and harness, `repeats` times each (alternating), medians and ratios. `cache_dir`:
    the HARNESS_CACHE of this comparison (a fresh one measures the peak FLOP/s afresh)."""
    from harness.device import cpu_flags, device_name

    cache_dir = cache_dir or tempfile.mkdtemp(prefix="bench-cache-")
    env = {"HARNESS_CACHE": cache_dir, "BENCH_LR": str(lr or LEARNING_RATE)}
    peaks = measure_peaks(env)
    recipe_runs, harness_runs = [], []
    for _ in range(repeats):
        recipe_runs.append(run_way("recipe", env=env))
        harness_runs.append(run_way("harness", env=env))
    recipe, harness = median_run(recipe_runs), median_run(harness_runs)
    flags = cpu_flags()
    import torch

    return {
        "date": time.strftime("%Y-%m-%d"),
        "kind": "gpu" if torch.cuda.is_available() else "cpu",
        "device": device_name(),
        "cpu_count": os.cpu_count(),
        "cpu_bf16": sorted({"amx_bf16", "avx512_bf16"} & flags),
        "python": platform.python_version(),
        "torch_threads": recipe["threads"],
        "model": MODEL, "lengths": LENGTHS, "steps": STEPS, "batch_size": BATCH, "learning_rate": lr or LEARNING_RATE, "max_length": MAX_LENGTH,
        "rows": SIZES, "repeats": repeats,
        "peak_flops": {p: v["flops"] for p, v in peaks.items()},
        "recipe": recipe,
        "harness": harness,
        "ratios": {key: harness[key] / recipe[key] for key in RATIO_KEYS},
        "accuracy_gap_points": 100 * abs(harness["accuracy"] - recipe["accuracy"]),
    }


def table(result: dict[str, Any]) -> str:
    r, h, q = result["recipe"], result["harness"], result["ratios"]
    rows = [
        ("train samples/s", r["train_samples_per_s"], h["train_samples_per_s"], q["train_samples_per_s"]),
        ("train real tokens/s", r["train_tokens_per_s"], h["train_tokens_per_s"], q["train_tokens_per_s"]),
        ("train MFU", r["mfu"], h["mfu"], None),
        ("inference samples/s", r["eval_samples_per_s"], h["eval_samples_per_s"], q["eval_samples_per_s"]),
        ("inference real tokens/s", r["eval_tokens_per_s"], h["eval_tokens_per_s"], q["eval_tokens_per_s"]),
        ("inference MFU", r["eval_mfu"], h["eval_mfu"], None),
        ("test accuracy", r["accuracy"], h["accuracy"], None),
    ]
    lines = [
        f"{result['model']}, {result['steps']} steps x batch {result['batch_size']}, lr {result['learning_rate']}, "
        f"{result['device']} ({result['cpu_count']} CPUs), medians of {result['repeats']} run(s)",
        f"{'':26s}{'recipe (fp32, pad 128)':>24s}{'harness (' + h['precision'] + ')':>20s}{'harness/recipe':>16s}",
    ]
    for name, a, b, ratio in rows:
        fmt = "{:>24.4f}{:>20.4f}" if "MFU" in name or "accuracy" in name else "{:>24.1f}{:>20.1f}"
        lines.append(f"{name:26s}" + fmt.format(a, b) + (f"{ratio:>15.2f}x" if ratio else ""))
    lines.append(f"peak FLOP/s (measured): fp32 {r['peak_flops'] / 1e9:.0f} G, {h['precision']} {h['peak_flops'] / 1e9:.0f} G")
    return "\n".join(lines)


def write_result(result: dict[str, Any], folder: Path = HERE / "results") -> Path:
    """benchmarks/results/<date>-cpu.json (or -gpu; -<model> for another model than minilm-l6; -full-length)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{result['date']}-{result['kind']}" + ("" if result["model"] == "minilm-l6" else f"-{result['model']}")
    name += "" if result.get("lengths", "natural") == "natural" else f"-{result['lengths']}-length"
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("way", choices=["recipe", "harness", "compare"])
    parser.add_argument("--out", help="write this way's figures as JSON here")
    parser.add_argument("--repeats", type=int, default=1, help="compare: runs of each way (medians)")
    parser.add_argument("--precision", default="auto", help="harness: auto, fp32 or bf16")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="harness: a Recipe override (JSON value)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate of both ways (default LEARNING_RATE)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--pad-to-max-length", action="store_true", help="harness: no dynamic padding")
    parser.add_argument("--attn", choices=["sdpa", "eager"], help="harness: attention implementation")
    parser.add_argument("--inference-autocast", action="store_true", help="harness: predict under autocast, fp32 weights")
    parser.add_argument("--trainer-eval", action="store_true", help="harness: Trainer.evaluate + a second validation pass")
    parser.add_argument("--adamw-foreach", action="store_true", help="harness: AdamW(foreach=True) (with --set optim=adamw_torch)")
    parser.add_argument("--freeze-word-embeddings", action="store_true", help="harness: word embeddings not trained")
    parser.add_argument("--no-keep-heap", action="store_true", help="harness: glibc's default mmap / trim behaviour")
    args = parser.parse_args(argv)
    if args.lr:
        global LEARNING_RATE
        LEARNING_RATE = args.lr
        os.environ["BENCH_LR"] = str(args.lr)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        tempfile.tempdir = scratch  # every temporary folder of this run goes here and is removed at the end
        if args.way == "compare":
            result = compare(args.repeats, cache_dir=str(Path(scratch) / "harness-cache"), lr=args.lr)
            print(table(result))
            print(f"written to {write_result(result)}")
            return 0
        result = run_harness(args) if args.way == "harness" else run_recipe(args)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
