"""What one cell measured, typed: its scored splits and its throughput, and `CellResult`, the body
of its record (harness.execution.record builds the `ResultRecord` around it once). Shared by the
fine-tuned cell (harness.train.finetune) and the evaluated checkpoint (harness.train.evaluate)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, TypedDict

from harness.device import peak_flops, peak_memory_mb
from harness.metrics import MACRO_F1_DEFINITION, classification_metrics, summary_metrics
from harness.probabilities import calibration, encode as encode_probabilities, softmax
from harness.records.schema import DataSummary, EvaluationFacts, LabelAlignment, Metrics, Probabilities, Throughput, Training
from harness.config_json import ModelConfigJson
from harness.train.flops import forward_flops_per_token
from harness.train.scoring import LatencyFigures, Predicted, validation_loss

if TYPE_CHECKING:
    from datasets import Dataset

TRAIN_DEFINITION = "train: optimizer steps only (forward, backward, clip, update; evaluation and saving excluded); "
MFU_DEFINITION = ("MFU = 3 x forward FLOPs per token (per family at the mean real length: layers applied, attention, "
                  "DeBERTa's relative attention, ModernBERT's local windows; harness.train.flops) x real tokens/s / "
                  "peak FLOP/s (eval: 1 x)")


class Batches(TypedDict, total=False):
    """The batch sizes the optimizer and the scoring really used, and the training wall time (the
    record's throughput keeps them in this order; an evaluation has only eval_batch_size)."""

    batch_size: int  # per device, after any out-of-memory halving
    gradient_accumulation_steps: int
    eval_batch_size: int
    train_wall_seconds: float


class RecordBody(TypedDict, total=False):
    """The record's keys a cell's result fills (CellResult.body), in their order on disk."""

    labels: list[str]
    metrics: Metrics
    predictions: dict[str, list[int]]
    references: dict[str, list[int]]
    probabilities: dict[str, Probabilities]
    alignment: LabelAlignment
    evaluation: EvaluationFacts
    data: DataSummary
    throughput: Throughput
    training: Training
    saved_model: str


@dataclass(frozen=True)
class CellResult:
    """What one cell measured. `test_fingerprint` digests exactly the scored test rows (None: a
    trial); `training` is None for a checkpoint evaluated as published (nothing trained), which has
    its label `alignment` and `evaluation` facts instead."""

    labels: list[str]
    metrics: Metrics
    predictions: dict[str, list[int]]
    references: dict[str, list[int]]
    data: DataSummary
    throughput: Throughput
    test_fingerprint: str | None
    training: Training | None = None
    fallbacks: list[str] = field(default_factory=list)  # what the cell fell back to: halved batches
    saved_model: str | None = None
    alignment: LabelAlignment | None = None
    evaluation: EvaluationFacts | None = None
    probabilities: dict[str, Probabilities] | None = None  # the scored test rows' class probabilities

    def body(self) -> RecordBody:
        """The record's keys this result fills, in their order on disk (absent ones left out)."""
        keys = ("labels", "metrics", "predictions", "references", "probabilities", "alignment", "evaluation", "data",
                "throughput", "training", "saved_model")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}


@dataclass(frozen=True)
class Scored:
    """The scored splits, and the predict output that times inference (test, or validation for a trial)."""

    metrics: Metrics
    predictions: dict[str, list[int]]
    references: dict[str, list[int]]
    timed: Predicted
    n_timed: int
    probabilities: dict[str, Probabilities] | None = None  # test only (a trial never reads test)


def score_splits(labels: Sequence[str], seed: int, encoded: dict[str, Dataset], val: Predicted,
                 test: Predicted | None) -> Scored:
    """Metrics (test: with bootstrap intervals over the test examples, seeded by the cell's seed),
    predictions and references of the scored splits."""
    from harness.stats import bootstrap_record_ci

    val_refs = list(encoded["validation"]["labels"])
    val_preds = val["logits"].argmax(-1).tolist()
    validation = {"n": len(val_refs), **summary_metrics(val_refs, val_preds), "loss": validation_loss(val["logits"], val_refs)}
    predictions, references = {"validation": val_preds}, {"validation": val_refs}
    if test is None:  # a trial: the test split is never read
        return Scored(Metrics.model_validate({"validation": validation, "macro_f1_definition": MACRO_F1_DEFINITION}),
                      predictions, references, val, len(val_refs))
    test_refs, test_preds = list(encoded["test"]["labels"]), test["logits"].argmax(-1).tolist()
    probabilities = softmax(test["logits"])
    scored_test = {**classification_metrics(test_refs, test_preds, list(labels)),
                   "calibration": calibration(probabilities, test_refs, test_preds),
                   "bootstrap": bootstrap_record_ci(test_refs, test_preds, resamples=1000, seed=seed,
                                                    n_labels=len(labels))}
    return Scored(Metrics.model_validate({"validation": validation, "test": scored_test,
                                          "macro_f1_definition": MACRO_F1_DEFINITION}),
                  {"test": test_preds, **predictions}, {"test": test_refs, **references}, test, len(test_refs),
                  {"test": Probabilities.model_validate(encode_probabilities(probabilities))})


def _flops_per_token(config: ModelConfigJson, params: dict[str, int], tokens: int, rows: int, batch: int) -> float:
    """Forward FLOPs per token at the cell's mean real length (harness.train.flops, per family);
    2 x non-embedding parameters where the config lacks the sizes."""
    counted = forward_flops_per_token(config, tokens / rows, batch) if tokens and rows else None
    return counted if counted else 2.0 * params["non_embedding"]


def cell_throughput(meter: Any, scored: Scored, params: dict[str, int], precision: str, config: ModelConfigJson,
                    batches: Batches, latency: LatencyFigures | None = None, timed_split: str = "test",
                    definition: str | None = None) -> Throughput:
    """Training and inference speed, MFU and peak memory of one cell. `meter` counts the training
    steps (seconds, samples, real and padded tokens); `scored.timed` is the predict output of the
    split whose inference is timed; `config` the model's config (its FLOPs per token); `batches`
    the batch sizes the optimizer and the scoring really used, and the training wall time."""
    timed, n_scored = scored.timed, scored.n_timed
    peak = peak_flops(precision)
    per_s = (lambda n: n / meter.seconds if meter.seconds else None)
    eval_per_s = (lambda n: n / timed["seconds"] if timed["seconds"] else None)
    train_tokens_s, eval_tokens_s = per_s(meter.real_tokens), eval_per_s(timed["real_tokens"])
    flops = {"train": _flops_per_token(config, params, meter.real_tokens, meter.samples, batches.get("batch_size") or 1),
             "eval": _flops_per_token(config, params, timed["real_tokens"], n_scored, batches["eval_batch_size"])}

    def mfu(split: str, tokens_s: float | None) -> float | None:
        factor = 3 if split == "train" else 1  # forward + backward = 3 forwards
        return factor * flops[split] * tokens_s / peak["flops"] if tokens_s and peak["flops"] else None

    figures = {
        "train_samples_per_s": per_s(meter.samples),
        "train_tokens_per_s": train_tokens_s,
        "train_padded_tokens_per_s": per_s(meter.padded_tokens),
        "train_real_tokens": meter.real_tokens,
        "train_padded_tokens": meter.padded_tokens,
        "train_samples": meter.samples,
        "eval_samples_per_s": eval_per_s(n_scored),
        "eval_tokens_per_s": eval_tokens_s,
        "eval_padded_tokens_per_s": eval_per_s(timed["padded_tokens"]),
        "train_seconds": meter.seconds,
        "eval_seconds": timed["seconds"],
        "parameters": params["total"],
        "non_embedding_parameters": params["non_embedding"],
        "mfu": mfu("train", train_tokens_s),
        "eval_mfu": mfu("eval", eval_tokens_s),
        "forward_flops_per_token": flops["train"],
        "eval_forward_flops_per_token": flops["eval"],
        "peak_flops": peak["flops"],
        "peak_flops_source": peak["source"],
        **batches,
        "eval_weights": timed["weights"],
        "definition": definition or (f"{TRAIN_DEFINITION}eval: the {timed_split} split after one warm-up batch; "
                                     f"tokens/s counts real (non-padding) tokens; {MFU_DEFINITION}"),
        **peak_memory_mb(),
        **({"latency": latency} if latency else {}),
    }
    if batches.get("batch_size"):  # the batch the optimizer saw, on the one device a cell trains on
        figures["optimizer_batch_size"] = batches["batch_size"] * batches.get("gradient_accumulation_steps", 1)
        figures["devices"] = 1
    return Throughput.model_validate(figures)
