"""Fine-tune one cell (task x model x seed) with transformers' Trainer and score it.

Read top to bottom: tokenize (cached) -> build model -> Trainer with early stopping on the
validation primary metric -> restore the best state -> score validation and test over the
whole split -> measure throughput -> return the record's body.
"""
from __future__ import annotations

import contextlib
import copy
import ctypes
import ctypes.util
import hashlib
import json
import math
import os
import sys
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .device import DeviceChoice, one_device_training_arguments, peak_flops, peak_memory_mb, reset_peak_memory, synchronize
from .metrics import MACRO_F1_DEFINITION, classification_metrics, summary_metrics
from .models import ModelIdentity, build_model, count_parameters, load_tokenizer
from .specs import ModelSpec, Recipe
from .tasks import TaskData


class NaNLossError(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class CellRun:
    """Everything one fine-tune needs."""

    data: TaskData
    model: ModelSpec
    identity: ModelIdentity  # resolved once per run: location and exact weights
    device: DeviceChoice  # the one device this cell trains on
    recipe: Recipe
    seed: int
    precision: str  # resolved: fp32, bf16 or fp16
    output_dir: Path  # the cell's folder (model and logs go here)
    save_model: bool = False
    tensorboard: bool = False
    fallbacks: list[str] = field(default_factory=list)
    progress_bar: bool = False  # a tqdm bar inside the cell (steps, loss, last validation score)
    score_test: bool = True  # False for a search trial: the test split is never read, predicted or stored


# --------------------------------------------------------------------------- CPU memory
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (glibc malloc.h)
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt / malloc_trim
        return None


def keep_cpu_heap_default() -> bool:
    """On by default on CPU; HARNESS_CPU_KEEP_HEAP=0 turns it off."""
    import torch

    return not torch.cuda.is_available() and os.environ.get("HARNESS_CPU_KEEP_HEAP", "1") != "0"


@contextlib.contextmanager
def cpu_heap_kept(enabled: bool = True):
    """While a cell trains and predicts on CPU (Linux, glibc), keep freed memory in the heap.

    glibc serves a large allocation with a fresh mmap and unmaps it when freed, so every training
    step page-faults its big buffers in again: the 30522 x 384 word-embedding gradient of MiniLM
    (47 MB, allocated afresh after each zero_grad(set_to_none=True)) and the activations cost about
    a third of a bf16 MiniLM step on 2 cores. With mmap and heap trimming off, the allocator
    reuses the same pages; no number changes. On exit glibc's defaults come back and the free heap
    is trimmed. No effect on CUDA tensors (they use torch's caching allocator)."""
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield True
    finally:
        for param, value in _GLIBC_DEFAULTS.items():
            libc.mallopt(param, value)
        libc.malloc_trim(0)


# --------------------------------------------------------------------------- tokenization
def _cache_root() -> Path:
    root = os.environ.get("HARNESS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "harness")
    return Path(root) / "tokenized"


def subset(dataset, limit: int | None, seed: int = 0):
    """A fixed (seed 0, independent of the training seed) random subset of `limit` rows."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(limit))


def test_fingerprint(dataset, spec) -> str:
    """A digest of exactly the test rows a cell scores (texts, gold labels, label names): two
    records with the same one were scored on the same examples, whatever data they trained on."""
    digest = hashlib.sha256(json.dumps({"labels": list(spec.labels), "text": list(spec.text)}).encode())
    columns = dataset.select_columns([*spec.text, "label"]).to_dict()
    for column in [*spec.text, "label"]:
        digest.update(column.encode())
        digest.update(json.dumps(columns[column], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def tokenize_split(dataset, tokenizer, text_columns: list[str], max_length: int, key: str):
    """Tokenize once per data fingerprint, tokenizer and max_length; cached on disk by datasets."""
    def encode(batch):
        texts = [batch[c] for c in text_columns]
        encoded = tokenizer(*texts, truncation="longest_first" if len(texts) == 2 else True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    digest = hashlib.sha256(f"{key}|{dataset._fingerprint}|{max_length}|{text_columns}".encode()).hexdigest()[:20]
    cache = _cache_root() / f"{digest}.arrow"
    cache.parent.mkdir(parents=True, exist_ok=True)
    out = dataset.map(
        encode,
        batched=True,
        remove_columns=list(text_columns),
        cache_file_name=str(cache),
        new_fingerprint=digest,
        load_from_cache_file=True,
        desc=None,
    )
    return out.rename_column("label", "labels")


# --------------------------------------------------------------------------- inference
def inference_weights(precision: str, device_type: str) -> str:
    """How `predict` runs the model: "bf16" (a bf16 copy of the weights, no autocast: on CPU this
    avoids re-casting every weight on every batch and the fp32 <-> bf16 round trips of autocast),
    "autocast-bf16" / "autocast-fp16" (CUDA), or "fp32"."""
    if precision == "bf16":
        return "bf16" if device_type == "cpu" else "autocast-bf16"
    if precision == "fp16":
        return "autocast-fp16"
    return "fp32"


def predict(model, dataset, collator, batch_size: int, precision: str, sort_by_length: bool = True) -> dict[str, Any]:
    """Logits for every row of `dataset`, in its order. Batches are length-sorted (less padding)
    and the predictions restored to input order. One warm-up batch runs before the clock starts.
    In bf16 on CPU a bf16 copy of the model runs (see `inference_weights`); `model` is untouched."""
    import torch

    device = next(model.parameters()).device
    weights = inference_weights(precision, device.type)
    lengths = np.asarray(dataset["length"])
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(len(lengths))
    features = [k for k in dataset.column_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    rows = dataset.select_columns(features)
    if weights == "bf16":
        runner = copy.deepcopy(model).to(torch.bfloat16)
        autocast = contextlib.nullcontext()
    else:
        runner = model
        dtype = {"autocast-bf16": torch.bfloat16, "autocast-fp16": torch.float16}.get(weights)
        autocast = torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def run(index):
        batch = collator([rows[int(i)] for i in index])
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast:
            logits = runner(**batch).logits
        return logits.float(), batch["attention_mask"]

    was_training = model.training
    runner.eval()
    logits_out = np.zeros((len(order), model.config.num_labels), dtype=np.float32)
    real = padded = 0
    with torch.inference_mode():
        if batches:
            run(batches[0])  # warm-up, not timed
        synchronize()
        start = time.perf_counter()
        for index in batches:
            logits, mask = run(index)
            logits_out[index] = logits.cpu().numpy()
            real += int(mask.sum())
            padded += int(mask.numel())
        synchronize()
        seconds = time.perf_counter() - start
    if runner is not model:
        del runner
    model.train(was_training)
    return {"logits": logits_out, "seconds": seconds, "real_tokens": real, "padded_tokens": padded, "weights": weights}


class EvalBatch:
    """The inference batch size of one cell. An out-of-memory error while scoring halves it
    (accelerate's `find_executable_batch_size`), at most `retries` times; it stays halved for
    the rest of the cell, and `fallback` says what happened for the record."""

    def __init__(self, size: int, retries: int):
        self.start = self.size = size
        self.floor = max(1, size >> retries)
        self.retries = retries

    def predict(self, model, dataset, collator, precision: str, sort_by_length: bool) -> dict[str, Any]:
        from accelerate.utils import find_executable_batch_size

        def halve() -> int:
            self.size //= 2
            return self.size

        @find_executable_batch_size(starting_batch_size=self.size, reduce_batch_size_fn=halve)
        def attempt(batch_size: int) -> dict[str, Any]:
            if batch_size < self.floor:
                raise RuntimeError(
                    f"out of memory while scoring even at batch size {self.floor} ({self.retries} halvings "
                    f"from {self.start}); lower eval_batch_size or max_length"
                )
            return predict(model, dataset, collator, batch_size, precision, sort_by_length)

        return attempt()

    @property
    def fallback(self) -> str | None:
        if self.size == self.start:
            return None
        return f"out of memory while scoring: eval batch {self.start} -> {self.size}"


# --------------------------------------------------------------------------- callbacks
def _make_callbacks():
    from transformers import Trainer, TrainerCallback

    class StepMeter(TrainerCallback):
        """Wall time of optimizer steps only (forward, backward, clip, update): evaluation,
        logging and checkpointing happen outside the on_step_begin / on_step_end window."""

        def __init__(self):
            self.seconds = 0.0
            self.steps = 0
            self.samples = 0
            self.real_tokens = 0
            self.padded_tokens = 0
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            synchronize()
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            synchronize()
            self.seconds += time.perf_counter() - self._start
            self.steps += 1

    class BestState(TrainerCallback):
        """Early stopping with patience on the validation primary metric, and the best weights
        kept in memory (no checkpoint written to disk) and restored when training ends. The
        validation predictions of the best evaluation are kept too (`best_validation`), so the
        validation split is not scored a second time with the same weights."""

        def __init__(self, metric: str, patience: int | None):
            self.metric = f"eval_{metric}"
            self.patience = patience
            self.best: float | None = None
            self.best_step: int | None = None
            self.best_state: dict | None = None
            self.best_validation: dict | None = None
            self.pending_validation: dict | None = None  # set by CountingTrainer.evaluate
            self.bad_evals = 0
            self.stopped_early = False

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            value = (metrics or {}).get(self.metric)
            pending, self.pending_validation = self.pending_validation, None
            if value is None:
                return
            if self.best is None or value > self.best:
                self.best, self.best_step, self.bad_evals = value, state.global_step, 0
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                self.best_validation = pending
            else:
                self.bad_evals += 1
                if self.patience is not None and self.bad_evals >= self.patience:
                    self.stopped_early = True
                    control.should_training_stop = True

        def restore(self, model) -> None:
            if self.best_state is not None:
                model.load_state_dict(self.best_state)

    class CountingTrainer(Trainer):
        """Trainer that counts the samples and real / padded tokens of every training batch,
        stops on a NaN or infinite loss, and evaluates through `predict` (length-sorted batches,
        the same inference path that scores the splits at the end)."""

        meter: StepMeter
        best: BestState | None = None
        fast_eval: dict[str, Any] | None = None  # dataset (with `length`), collator, batch (EvalBatch), precision, sort
        nan_step: int | None = None

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
            if eval_dataset is not None or self.fast_eval is None:
                return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            import torch

            fast = self.fast_eval
            out = fast["batch"].predict(self.model, fast["dataset"], fast["collator"], fast["precision"], fast["sort"])
            references = np.asarray(fast["dataset"]["labels"])
            logits = torch.from_numpy(out["logits"])
            loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(references).long()))
            metrics = {f"{metric_key_prefix}_loss": loss}
            for key, value in summary_metrics(references.tolist(), out["logits"].argmax(-1).tolist()).items():
                metrics[f"{metric_key_prefix}_{key}"] = value
            metrics[f"{metric_key_prefix}_runtime"] = round(out["seconds"], 4)
            metrics[f"{metric_key_prefix}_samples_per_second"] = round(len(references) / max(out["seconds"], 1e-9), 3)
            self.log(metrics)
            if self.best is not None:
                self.best.pending_validation = out
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def training_step(self, model, inputs, num_items_in_batch=None):
            mask = inputs.get("attention_mask")
            if mask is not None:
                self.meter.real_tokens += int(mask.sum())
                self.meter.padded_tokens += int(mask.numel())
                self.meter.samples += int(mask.shape[0])
            loss = super().training_step(model, inputs, num_items_in_batch)
            if not math.isfinite(float(loss)):
                self.nan_step = self.state.global_step
                self.control.should_training_stop = True
                raise NaNLossError(f"training loss is {float(loss)} at step {self.state.global_step}")
            return loss

    return StepMeter, BestState, CountingTrainer


# --------------------------------------------------------------------------- one cell
def _training_args(run: CellRun, work_dir: str, batch_size: int, accumulation: int):
    recipe = run.recipe
    by_steps = recipe.eval_steps is not None
    strategy = "steps" if by_steps else "epoch"
    kwargs: dict[str, Any] = dict(
        output_dir=work_dir,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=recipe.eval_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        warmup_steps=recipe.warmup_ratio,
        lr_scheduler_type="linear",
        max_grad_norm=recipe.max_grad_norm,
        num_train_epochs=recipe.max_epochs,
        max_steps=recipe.max_steps or -1,
        eval_strategy=strategy,
        eval_steps=recipe.eval_steps,
        logging_strategy=strategy,
        logging_steps=recipe.eval_steps or 500,
        logging_nan_inf_filter=False,
        save_strategy="no",
        bf16=run.precision == "bf16",
        fp16=run.precision == "fp16",
        seed=run.seed,
        data_seed=run.seed,
        optim=recipe.optim,
        train_sampling_strategy="group_by_length" if recipe.length_grouping else "random",
        torch_compile=recipe.torch_compile,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return one_device_training_arguments(run.device, **kwargs)


def _tensorboard_callback(log_dir: Path):
    """The Trainer's own TensorBoard reporting, writing under the cell's folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        from .errors import HarnessError

        raise HarnessError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    log_dir.mkdir(parents=True, exist_ok=True)
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))


def _history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    losses = {entry["step"]: entry["loss"] for entry in log_history if "loss" in entry}
    out = []
    for entry in log_history:
        if "eval_accuracy" in entry:
            step = entry["step"]
            out.append(
                {
                    "step": step,
                    "epoch": round(float(entry.get("epoch", 0.0)), 4),
                    "train_loss": losses.get(step),
                    "validation_accuracy": entry["eval_accuracy"],
                    "validation_macro_f1": entry.get("eval_macro_f1"),
                }
            )
    return out


def fine_tune_cell(run: CellRun) -> dict[str, Any]:
    """Train and score one cell; returns the record's metrics, predictions, throughput and training."""
    import torch
    from accelerate.utils import find_executable_batch_size
    from transformers import DataCollatorWithPadding, PrinterCallback, set_seed

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    StepMeter, BestState, CountingTrainer = _make_callbacks()
    spec, recipe = run.data.spec, run.recipe
    set_seed(run.seed)
    tokenizer = load_tokenizer(run.identity)
    tok_key = f"{run.identity.content_hash or run.identity.source}@{run.identity.revision}"
    splits = {
        "train": subset(run.data.splits["train"], recipe.max_train_samples),
        "validation": subset(run.data.splits["validation"], recipe.max_eval_samples),
    }
    if run.score_test:  # a search trial never touches the test split
        splits["test"] = subset(run.data.splits["test"], recipe.max_eval_samples)
    encoded = {name: tokenize_split(ds, tokenizer, list(spec.text), recipe.max_length, tok_key) for name, ds in splits.items()}
    scored_test = test_fingerprint(splits["test"], spec) if run.score_test else None
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if run.device.type == "cuda" else None)

    def compute_metrics(prediction):
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return summary_metrics(prediction.label_ids, np.argmax(logits, axis=-1))

    work_dir = tempfile.mkdtemp(prefix="trainer-", dir=run.output_dir)
    state: dict[str, Any] = {}
    reset_peak_memory()
    start_batch = recipe.batch_size
    floor = max(1, start_batch // (2 ** recipe.oom_retries))
    eval_batch = EvalBatch(recipe.eval_batch_size, recipe.oom_retries)

    def halve() -> int:
        state["oom"] = state.get("oom", 0) + 1
        return state["batch"] // 2

    @find_executable_batch_size(starting_batch_size=start_batch, reduce_batch_size_fn=halve)
    def train_with(batch_size: int):
        if batch_size < floor:
            raise RuntimeError(
                f"out of memory while training even at batch size {floor} ({recipe.oom_retries} halvings from "
                f"{start_batch}); lower batch_size or max_length"
            )
        state["batch"] = batch_size
        accumulation = recipe.gradient_accumulation_steps * (start_batch // batch_size)
        model = build_model(run.identity, list(spec.labels), run.seed)
        meter, best = StepMeter(), BestState(spec.metric, recipe.patience)
        callbacks = [meter, best]
        if run.progress_bar:
            from .progress import CellProgressBar

            callbacks.append(CellProgressBar(f"{spec.name} / {run.model.name} / seed {run.seed}"))
        if run.tensorboard:
            callbacks.append(_tensorboard_callback(run.output_dir / "tensorboard" / f"seed-{run.seed}"))
        trainer = CountingTrainer(
            model=model,
            args=_training_args(run, work_dir, batch_size, accumulation),
            train_dataset=encoded["train"],
            eval_dataset=encoded["validation"].remove_columns(["length"]),
            processing_class=tokenizer,
            data_collator=collator,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.meter = meter
        trainer.best = best
        trainer.fast_eval = {
            "dataset": encoded["validation"], "collator": collator, "batch": eval_batch,
            "precision": run.precision, "sort": recipe.sort_inference_by_length,
        }
        start = time.perf_counter()
        trainer.train()
        state["train_wall"] = time.perf_counter() - start
        return trainer, meter, best, accumulation

    with cpu_heap_kept(keep_cpu_heap_default()):
        try:
            trainer, meter, best, accumulation = train_with()
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        model = trainer.model
        best.restore(model)
        # The best evaluation's validation predictions were made with exactly the restored weights:
        # the validation split is scored again only if no evaluation ran through `predict`.
        val = best.best_validation or eval_batch.predict(
            model, encoded["validation"], collator, run.precision, recipe.sort_inference_by_length
        )
        test = (eval_batch.predict(model, encoded["test"], collator, run.precision, recipe.sort_inference_by_length)
                if run.score_test else None)
    if state.get("oom"):
        run.fallbacks.append(
            f"out of memory while training: batch {start_batch} -> {state['batch']} per device, "
            f"gradient accumulation x{start_batch // state['batch']}"
        )
    if eval_batch.fallback:
        run.fallbacks.append(eval_batch.fallback)
    history = _history(trainer.state.log_history)

    val_refs = list(encoded["validation"]["labels"])
    val_preds = val["logits"].argmax(-1).tolist()
    if test is None:  # a trial: inference throughput is measured on the validation split
        test_refs, test_preds, test = val_refs, val_preds, val
    else:
        test_refs, test_preds = list(encoded["test"]["labels"]), test["logits"].argmax(-1).tolist()

    params = count_parameters(model)
    peak = peak_flops(run.precision)
    train_tokens_s = meter.real_tokens / meter.seconds if meter.seconds else None
    eval_tokens_s = test["real_tokens"] / test["seconds"] if test["seconds"] else None
    throughput = {
        "train_samples_per_s": meter.samples / meter.seconds if meter.seconds else None,
        "train_tokens_per_s": train_tokens_s,
        "train_padded_tokens_per_s": meter.padded_tokens / meter.seconds if meter.seconds else None,
        "train_real_tokens": meter.real_tokens,
        "train_padded_tokens": meter.padded_tokens,
        "train_samples": meter.samples,
        "eval_samples_per_s": len(test_refs) / test["seconds"] if test["seconds"] else None,
        "eval_tokens_per_s": eval_tokens_s,
        "eval_padded_tokens_per_s": test["padded_tokens"] / test["seconds"] if test["seconds"] else None,
        "train_seconds": meter.seconds,
        "train_wall_seconds": state["train_wall"],
        "eval_seconds": test["seconds"],
        "parameters": params["total"],
        "non_embedding_parameters": params["non_embedding"],
        "mfu": (6 * params["non_embedding"] * train_tokens_s / peak["flops"]) if train_tokens_s else None,
        "eval_mfu": (2 * params["non_embedding"] * eval_tokens_s / peak["flops"]) if eval_tokens_s else None,
        "peak_flops": peak["flops"],
        "peak_flops_source": peak["source"],
        "batch_size": state["batch"],
        "gradient_accumulation_steps": accumulation,
        "eval_batch_size": eval_batch.size,
        "eval_weights": test["weights"],
        "definition": (
            "train: optimizer steps only (forward, backward, clip, update; evaluation and saving excluded); "
            "eval: the test split after one warm-up batch; tokens/s counts real (non-padding) tokens; "
            "MFU = 6 x non-embedding parameters x real tokens/s / peak FLOP/s (eval: 2 x)"
        ),
        **peak_memory_mb(),
    }
    metrics = {"validation": {"n": len(val_refs), **summary_metrics(val_refs, val_preds)}}
    predictions, references = {"validation": val_preds}, {"validation": val_refs}
    if run.score_test:
        metrics["test"] = classification_metrics(test_refs, test_preds, list(spec.labels))
        predictions, references = {"test": test_preds, **predictions}, {"test": test_refs, **references}
    else:
        throughput["definition"] = throughput["definition"].replace("eval: the test split", "eval: the validation split")
    record = {
        "labels": list(spec.labels),
        "metrics": {**metrics, "macro_f1_definition": MACRO_F1_DEFINITION},
        "predictions": predictions,
        "references": references,
        "test_fingerprint": scored_test,  # moved into provenance by record.completed_record
        "throughput": throughput,
        "training": {
            "epochs": float(trainer.state.epoch or 0.0),
            "steps": int(trainer.state.global_step),
            "best_step": best.best_step,
            "best_validation_accuracy": best.best,
            "stopped_early": best.stopped_early,
            "history": history,
            "train_rows": len(encoded["train"]),
        },
    }
    if run.save_model:
        target = run.output_dir / f"model-seed-{run.seed}"
        model.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
        (target / "harness.json").write_text(json.dumps({
            "task": spec.name, "labels": list(spec.labels), "text_columns": list(spec.text),
            "max_length": recipe.max_length, "model": run.model.name, "seed": run.seed,
        }, indent=1, ensure_ascii=False))
        record["saved_model"] = str(target)
    return record
