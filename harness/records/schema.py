"""The result record: one typed, versioned `ResultRecord`, built once by execution, written and
read by the store, and handed to every view as itself.

On disk it is the same JSON as always: a model keeps exactly the keys it was built or read with
(`exclude_unset` on the way out), so a key that says nothing (`kind` of a final record, a failed
record's metrics) is absent rather than null. Every part keeps keys it does not declare
(`extra="allow"`): a newer harness's additions survive a read and rewrite.

Records are untrusted when read: bounds, safe names, printable labels and label ids are checked
here, so every view can rely on them.

Versions: 2 is the typed record (written by this harness); 1 is the same JSON under the loose
reader, upgraded on read by `upgrade`. A version this harness does not know is rejected.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from harness.files import SAFE_NAME
from harness.metrics import metric_names
from harness.records.checks import check_label_ids, check_labels, check_metric_ranges  # noqa: F401 (re-exported)
from harness.records.facts import (CurvePoint, EvaluationFacts, HeadFacts, LabelAlignment, LossPoint,  # noqa: F401 (re-exported)
                                   SearchSelection)
from harness.records.parts import _Part

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


class RecordStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


class RecordKind(StrEnum):
    FINAL = "final"
    TRIAL = "trial"  # a search trial under <task>/<model>/search/, scored on validation only
    EVALUATION = "evaluation"  # a checkpoint evaluated as published (init: finetuned): nothing trained, seed 0


# --------------------------------------------------------------------------- parts
class Interval(_Part):
    low: float | None = None
    high: float | None = None


class Bootstrap(_Part):
    """Percentile bootstrap intervals over test examples (harness.stats): one `{low, high}` per
    registered metric, keyed by its name beside these settings."""

    resamples: int
    seed: int
    confidence: float
    method: str

    def interval(self, metric: str) -> Interval:
        value = getattr(self, metric, None)
        if isinstance(value, Interval):
            return value
        return Interval.model_validate(value) if isinstance(value, dict) else Interval()


class SplitMetrics(_Part):
    """One scored split: its size and every registered metric (harness.metrics.METRICS)."""

    n: int = Field(ge=0)
    accuracy: float
    macro_f1: float
    mcc: float | None = None  # absent in records written before MCC was registered: the reader derives it
    loss: float | None = None  # validation: mean cross-entropy (what selection_metric=loss follows); absent in older records

    @model_validator(mode="after")
    def _within_metric_range(self) -> "SplitMetrics":
        check_metric_ranges({**(self.model_extra or {}), **self.__dict__})
        return self

    def score(self, metric: str) -> float | None:
        """A registered metric's value by name (a metric registered later is an extra key)."""
        value = getattr(self, metric, None)
        return None if value is None else float(value)


class ClassScores(_Part):
    precision: float
    recall: float
    f1: float
    support: int | float


class Calibration(_Part):
    """Probability metrics of the test split (harness.probabilities.calibration); absent in records
    written before probabilities were kept."""

    ece: float | None = Field(None, ge=0, le=1)  # expected calibration error over `bins` equal-width bins
    brier: float | None = Field(None, ge=0, le=2)  # multi-class Brier score
    bins: int = Field(ge=1)


class Probabilities(_Part):
    """The scored rows' class probabilities: rows x labels float16, base64 (harness.probabilities)."""

    encoding: Literal["float16-base64"]
    rows: int = Field(ge=0)
    labels: int = Field(ge=0)
    data: str

    @model_validator(mode="after")
    def _data_fits_the_shape(self) -> "Probabilities":
        expected = 4 * -(-2 * self.rows * self.labels // 3)  # base64 length of rows x labels float16 values
        if len(self.data) != expected:
            raise ValueError(f"data holds {len(self.data)} base64 characters, not the {expected} of "
                             f"{self.rows} x {self.labels} float16 values")
        return self


class TestMetrics(SplitMetrics):
    per_class: dict[str, ClassScores]
    confusion_matrix: list[list[int]]
    bootstrap: Bootstrap | None = None
    calibration: Calibration | None = None

    def interval(self, metric: str) -> Interval:
        """The bootstrap interval of a registered metric (empty where none was computed)."""
        return self.bootstrap.interval(metric) if self.bootstrap is not None else Interval()


class Metrics(_Part):
    validation: SplitMetrics
    test: TestMetrics | None = None  # absent only in a search trial's record (validation only)
    macro_f1_definition: str


class Latency(_Part):
    """Batch-1 inference latency over the first test examples, after warm-up (harness.train.scoring.latency)."""

    batch_size: Literal[1]
    examples: int
    warmup: int
    median_ms: float
    p95_ms: float
    device: str
    precision: str
    weights: str


class Throughput(_Part):
    """Speed, memory and MFU of one cell; `None` where a figure could not be measured. The other
    figures the cell measures (token counts, batch sizes, peak FLOP/s, the definition) are kept as
    extra keys in the order measured."""

    train_samples_per_s: float | None
    train_tokens_per_s: float | None
    eval_samples_per_s: float | None
    eval_tokens_per_s: float | None
    train_seconds: float | None
    eval_seconds: float | None
    peak_memory_mb: float | None
    mfu: float | None
    latency: Latency | None = None  # absent in records written before it was measured
    eval_mfu: float | None = None
    parameters: int | None = None
    non_embedding_parameters: int | None = None
    batch_size: int | None = None  # per device, after any out-of-memory halving
    gradient_accumulation_steps: int | None = None
    eval_batch_size: int | None = None
    optimizer_batch_size: int | None = None
    devices: int | None = None
    memory_kind: str | None = None
    definition: str | None = None

    def figure(self, key: str) -> Any:
        """A measured figure by its key on disk (declared or extra), or None."""
        return getattr(self, key, None)


class HistoryEntry(_Part):
    """One evaluation of the validation curve: the step, the last training loss before it, and the
    validation loss and every registered metric (`validation_<name>`, extra keys for later ones)."""

    step: int
    epoch: float = 0.0
    train_loss: float | None = None
    validation_loss: float | None = None
    validation_accuracy: float | None = None
    validation_macro_f1: float | None = None


class Training(_Part):
    epochs: float
    steps: int
    best_step: int | None  # the best evaluation on selection_metric
    stopped_early: bool
    history: list[HistoryEntry]  # one entry per evaluation (the validation curve)
    loss_curve: list[LossPoint] | None = None  # the training loss, logged about 25 times a run
    # the validation split about `curve_points` times a run plus the selection evaluations (`selection: true`);
    # absent in records written before it was kept, None with curve_points 0 (harness.train.curve)
    validation_curve: list[CurvePoint] | None = None
    # always a new head initialised from the seed; replaced: the checkpoint had one (its label count, problem_type)
    head: HeadFacts | None = None
    # the selection (absent in records written before it was recorded):
    selection_metric: str | None = None  # the validation metric early stopping and the best checkpoint followed
    min_steps: int | None = None  # the earliest step early stopping could stop at (default: the warm-up steps)
    restored_step: int | None = None  # whose weights were restored and scored (None: the last step's)
    stopped_at_step: int | None = None  # where early stopping ended training (None: the budget ended it)
    stopped_on: str | None = None  # the metric early stopping stopped on


class DataSummary(_Part):
    """What the cell did to its data: the token budget and how many examples it cut, per split."""

    max_length: int
    truncation_side: Literal["right", "left"]
    truncated: dict[str, int]
    rows: dict[str, int]
    dropped_empty: dict[str, int] | None = None
    task_description: str | None = None  # the task spec's description (kept out of the config: no effect on scores)


class TaskConfig(_Part):
    spec: dict[str, Any] = Field(default_factory=dict)  # the task spec as declared (harness.spec.task)
    data_fingerprint: str | None = None


class CellConfig(_Part):
    """The fully resolved configuration the config hash is taken of (harness.planning.context);
    a record also keeps its run's `options` here (not hashed)."""

    task: TaskConfig | str = Field(default_factory=TaskConfig)  # str: the task's name, where the model did not resolve
    model: dict[str, Any] = Field(default_factory=dict)  # the model spec and its resolved identity
    recipe: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    precision: str | None = None

    @property
    def task_spec(self) -> dict[str, Any]:
        """The task spec as declared ({} in the config of a cell whose model did not resolve)."""
        return self.task.spec if isinstance(self.task, TaskConfig) else {}

    @property
    def data_fingerprint(self) -> str | None:
        return self.task.data_fingerprint if isinstance(self.task, TaskConfig) else None

    def value(self, key: str) -> Any:
        """Another entry of the config by its key (`options`, `searched`, ...), or None."""
        return (self.model_extra or {}).get(key)


class Provenance(_Part):
    """Where and with what a record was made (harness.planning.context); every entry is kept in its
    order on disk, library versions keyed by package name."""

    harness: str | None = None
    python: str | None = None
    torch: str | None = None
    transformers: str | None = None
    datasets: str | None = None
    scikit_learn: str | None = Field(default=None, alias="scikit-learn")
    git_commit: str | None = None
    device: str | None = None
    device_type: str | None = None
    host: str | None = None
    executor: str | None = None
    precision: str | None = None
    precision_requested: str | None = None
    precision_reason: str | None = None
    model_source: str | None = None
    model_language: str | None = None
    model_revision: str | None = None
    model_content_hash: str | None = None
    data_fingerprint: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    test_fingerprint: str | None = None  # digest of exactly the scored test rows (completed finals)

    def value(self, key: str) -> Any:
        """A provenance entry by its on-disk key (`scikit-learn`, `ray_node_id`, ...), or None."""
        return getattr(self, "scikit_learn" if key == "scikit-learn" else key, None)


class ResultRecord(_Part):
    """One task x model x seed result (or one search trial's, or one evaluated checkpoint's)."""

    schema_version: Literal[2] = SCHEMA_VERSION
    task: str = Field(pattern=SAFE_NAME)  # each becomes a path component: checked once, here
    model: str = Field(pattern=SAFE_NAME)
    seed: int = Field(ge=0)
    status: RecordStatus
    error: str | None = None
    traceback: list[str] | None = None
    labels: list[str] = Field(default_factory=list)
    metrics: Metrics | None = None
    predictions: dict[str, list[StrictInt]] | None = None  # strict: the views use the file's own lists as ints
    references: dict[str, list[StrictInt]] | None = None
    probabilities: dict[str, Probabilities] | None = None  # per scored split (test); absent in older records
    throughput: Throughput | None = None
    training: Training | None = None
    data: DataSummary | None = None
    saved_model: str | None = None
    config: CellConfig
    config_hash: str = Field(pattern=SAFE_NAME)
    fallbacks: list[str] = Field(default_factory=list)
    provenance: Provenance
    kind: RecordKind = RecordKind.FINAL
    alignment: LabelAlignment | None = None  # evaluation: checkpoint label -> task label, and how each was aligned
    evaluation: EvaluationFacts | None = None  # evaluation: what was (not) trained and which variance exists
    selection: SearchSelection | None = None  # a final cell whose configuration a search chose

    @field_validator("labels")
    @classmethod
    def _printable_labels(cls, labels: list[str]) -> list[str]:
        return check_labels(labels)

    @model_validator(mode="after")
    def _ids_within_labels(self) -> "ResultRecord":
        for what, table in (("predictions", self.predictions), ("references", self.references)):
            for split, ids in (table or {}).items():
                check_label_ids(f"{what}.{split}", ids, len(self.labels))
        for split, block in (self.probabilities or {}).items():
            rows = len((self.predictions or {}).get(split) or [])
            if (block.rows, block.labels) != (rows, len(self.labels)):
                raise ValueError(f"probabilities.{split} is {block.rows} x {block.labels}, not rows x labels "
                                 f"= {rows} x {len(self.labels)}")
            # the values (finite, in [0, 1]) are checked when a view decodes them (harness.probabilities.decode)
        return self

    @model_validator(mode="after")
    def _completed_has_metrics(self) -> "ResultRecord":
        if self.status is RecordStatus.COMPLETED and self.metrics is None:
            raise ValueError("a completed record needs metrics")
        if self.status is RecordStatus.FAILED and not (self.error or "").strip():
            raise ValueError("a failed record needs its error")
        return self

    @model_validator(mode="after")
    def _test_scored_unless_trial(self) -> "ResultRecord":
        if self.metrics is not None and self.kind is not RecordKind.TRIAL and self.metrics.test is None:
            raise ValueError("a completed final record needs metrics.test (only a search trial has none)")
        if self.kind is RecordKind.TRIAL and self.metrics is not None and self.metrics.test is not None:
            raise ValueError("a search trial is scored on the validation split only; it holds no test metrics")
        if self.kind is RecordKind.TRIAL and any("test" in (table or {}) for table in
                                                 (self.predictions, self.references, self.probabilities)):
            raise ValueError("a search trial stores no test predictions or references")
        if self.kind is RecordKind.EVALUATION and self.status is RecordStatus.COMPLETED and self.alignment is None:
            raise ValueError("an evaluation record needs its label alignment")
        return self

    @property
    def completed(self) -> bool:
        """THE definition of a record that counts: completed, with every registered test metric."""
        test = self.metrics.test if self.metrics is not None else None
        return (self.status is RecordStatus.COMPLETED and test is not None
                and all(test.score(m) is not None for m in metric_names()))

    @property
    def evaluated(self) -> bool:
        """A checkpoint evaluated as published: nothing trained, no seed variance."""
        return self.kind is RecordKind.EVALUATION

    @property
    def test(self) -> TestMetrics:
        """The test metrics of a completed record (check `completed` first)."""
        assert self.metrics is not None and self.metrics.test is not None, f"{self.where}: no test metrics"
        return self.metrics.test

    @property
    def where(self) -> str:
        return f"{self.task} / {self.model} / seed {self.seed}"

    def to_json(self) -> dict[str, Any]:
        """The JSON on disk: the keys it was built or read with, the current schema version."""
        return {"schema_version": SCHEMA_VERSION, **self.as_json()}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record as version 2: the JSON is the same, only the version says typed."""
    if data.get("schema_version") == 1:
        return {**data, "schema_version": 2}
    return data
