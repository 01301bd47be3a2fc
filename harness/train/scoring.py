"""Score a split: length-sorted inference batches, bf16 weights on CPU, and the bounded
out-of-memory policy of evaluation."""
from __future__ import annotations

import contextlib
import copy
import time
from typing import TypedDict

import numpy as np

from harness.device import synchronize


class Predicted(TypedDict):
    """What `predict` returns: the logits in input order and how long the timed batches took."""

    logits: np.ndarray  # rows x labels, float32
    seconds: float
    real_tokens: int
    padded_tokens: int
    weights: str  # inference_weights


class LatencyFigures(TypedDict):
    """What `latency` measured (the record's throughput.latency, harness.records.schema.Latency)."""

    batch_size: int
    examples: int
    warmup: int
    median_ms: float
    p95_ms: float
    device: str
    precision: str
    weights: str
    budget_s: float


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


def predict(model, dataset, collator, batch_size: int, precision: str, sort_by_length: bool = True,
            warmup: bool = True, copies: "Bf16Copy | None" = None) -> Predicted:
    """Logits for every row of `dataset`, in its order. Batches are length-sorted (less padding)
    and the predictions restored to input order. One warm-up batch runs before the clock starts
    (`warmup`; a pass whose time nobody reads, the validation curve's, skips it: the logits are
    the same). In bf16 on CPU a bf16 copy of the model runs (see `inference_weights`): a fresh
    one, or `copies`'s, refreshed from the model's weights; `model` is untouched."""
    import torch

    device = next(model.parameters()).device
    lengths = np.asarray(dataset["length"])
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(len(lengths))
    rows = _features(dataset)
    runner, autocast, weights = _runner(model, precision, copies)
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
        if batches and warmup:
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
    if runner is not model and copies is None:
        del runner
    model.train(was_training)
    return Predicted(logits=logits_out, seconds=seconds, real_tokens=real, padded_tokens=padded, weights=weights)


def _features(dataset):
    return dataset.select_columns([k for k in dataset.column_names if k in ("input_ids", "attention_mask", "token_type_ids")])


class Bf16Copy:
    """One bf16 copy of a model, kept from one scoring pass to the next and refreshed in place
    from the model's current weights before each (a copy_ is the same rounding as `.to`, so the
    logits are those of a fresh copy). Making the copy costs a deepcopy (about 50 ms for MiniLM
    on CPU); the validation curve scores about 20 times a run, so a cell's EvalBatch keeps one."""

    def __init__(self):
        self.source = self.copy = None

    def of(self, model):
        import torch

        if self.source is not model:
            self.source, self.copy = model, copy.deepcopy(model).to(torch.bfloat16)
            return self.copy
        with torch.no_grad():
            for target, value in zip(self.copy.state_dict().values(), model.state_dict().values(), strict=True):
                target.copy_(value)
        return self.copy


def _runner(model, precision: str, copies: Bf16Copy | None = None):
    """(the module that runs, its autocast context, the `inference_weights` name) for `precision`."""
    import torch

    device = next(model.parameters()).device
    weights = inference_weights(precision, device.type)
    if weights == "bf16":
        runner = copies.of(model) if copies is not None else copy.deepcopy(model).to(torch.bfloat16)
        return runner, contextlib.nullcontext(), weights
    dtype = {"autocast-bf16": torch.bfloat16, "autocast-fp16": torch.float16}.get(weights)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)
    return model, autocast, weights


LATENCY_EXAMPLES = 200  # batch-1 latency: the first N scored test examples (fewer if the split is smaller)
LATENCY_WARMUP = 5  # untimed batch-1 calls first (allocator, kernels, caches)
# the timing stops early once this many seconds have passed and at least LATENCY_MIN examples are
# timed, so that a slow device (a large model on CPU) does not make every cell much longer
LATENCY_BUDGET_S = 3.0
LATENCY_MIN = 20


def latency(model, dataset, collator, precision: str, device_name: str, examples: int = LATENCY_EXAMPLES,
            warmup: int = LATENCY_WARMUP, budget_s: float = LATENCY_BUDGET_S) -> LatencyFigures | None:
    """Batch-1 latency: each of the first `examples` rows of `dataset` alone through the model, as
    a service answers one request, timed after `warmup` untimed calls; median and 95th percentile in
    milliseconds (tokenization excluded, device synchronised around each call). Stops early past
    `budget_s` seconds once LATENCY_MIN examples are timed (`examples` in the result says how many
    were). None for an empty split."""
    import torch

    count = min(examples, len(dataset))
    if count == 0:
        return None
    device = next(model.parameters()).device
    rows = _features(dataset)
    runner, autocast, weights = _runner(model, precision)
    was_training = model.training
    runner.eval()
    warm = min(warmup, count)
    times: list[float] = []
    began = time.perf_counter()
    with torch.inference_mode():
        for n, i in enumerate([*range(warm), *range(count)]):
            if n - warm >= LATENCY_MIN and time.perf_counter() - began > budget_s:
                break
            batch = {k: v.to(device) for k, v in collator([rows[i]]).items()}
            synchronize()
            start = time.perf_counter()
            with autocast:
                runner(**batch)
            synchronize()
            times.append(time.perf_counter() - start)
    if runner is not model:
        del runner
    model.train(was_training)
    timed = 1000 * np.asarray(times[warm:])
    return LatencyFigures(batch_size=1, examples=len(timed), warmup=warm, median_ms=float(np.median(timed)),
                          p95_ms=float(np.percentile(timed, 95)), device=device_name, precision=precision,
                          weights=weights, budget_s=budget_s)


class EvalBatch:
    """The inference batch size of one cell. An out-of-memory error while scoring halves it
    (accelerate's `find_executable_batch_size`), at most `retries` times; it stays halved for
    the rest of the cell, and `fallback` says what happened for the record."""

    def __init__(self, size: int, retries: int):
        self.start = self.size = size
        self.floor = max(1, size >> retries)
        self.retries = retries
        self.copies = Bf16Copy()  # the bf16 weights of every pass on CPU, refreshed, not re-made

    def predict(self, model, dataset, collator, precision: str, sort_by_length: bool,
                warmup: bool = True) -> Predicted:
        """`predict` at the current size; on out of memory, accelerate's `find_executable_batch_size`
        halves it and retries (down to the floor). The first try goes straight to `predict`: the
        decorator collects garbage before every call (about 0.2 s of CPU on a training process's
        heap), which a pass that fits does not need."""
        from accelerate.utils import find_executable_batch_size
        from accelerate.utils.memory import should_reduce_batch_size

        def attempt(batch_size: int) -> Predicted:
            if batch_size < self.floor:
                raise RuntimeError(
                    f"out of memory while scoring even at batch size {self.floor} ({self.retries} halvings "
                    f"from {self.start}); lower eval_batch_size or max_length"
                )
            return predict(model, dataset, collator, batch_size, precision, sort_by_length, warmup, self.copies)

        try:
            return attempt(self.size)
        except Exception as error:  # noqa: BLE001 (anything but out of memory is raised again)
            if not should_reduce_batch_size(error):
                raise
        return find_executable_batch_size(attempt, starting_batch_size=self._halve(), reduce_batch_size_fn=self._halve)()

    def _halve(self) -> int:
        self.size //= 2
        return self.size

    @property
    def fallback(self) -> str | None:
        if self.size == self.start:
            return None
        return f"out of memory while scoring: eval batch {self.start} -> {self.size}"


def validation_loss(logits: np.ndarray, references: list[int]) -> float:
    """Mean cross-entropy of the logits (what early stopping on `loss` follows), as the Trainer's eval_loss."""
    import torch

    return float(torch.nn.functional.cross_entropy(torch.from_numpy(np.asarray(logits, dtype=np.float32)),
                                                   torch.as_tensor(references, dtype=torch.long)))
