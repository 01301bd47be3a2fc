"""Typed, validated specs: tasks (tasks/*.yaml), models (models.yaml) and the training recipe.

Every spec is checked when it is loaded; a misspelt or missing field is an error that names
the file, the entry and the field.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import files
from .errors import SpecError

SPLITS = ("train", "validation", "test")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- recipe
class Recipe(Strict):
    """Hyperparameters of one fine-tune. Defaults: the CamemBERT tutorial's recipe."""

    learning_rate: float = Field(3e-5, gt=0, description="peak AdamW learning rate (after linear warm-up, then linear decay)")
    batch_size: int = Field(16, ge=1, description="training examples per optimizer step (halved on out-of-memory, with accumulation)")
    eval_batch_size: int = Field(64, ge=1, description="examples per batch when scoring validation and test")
    gradient_accumulation_steps: int = Field(1, ge=1, description="batches accumulated per optimizer step")
    max_epochs: float = Field(20, gt=0, description="epoch budget; early stopping usually ends training sooner")
    max_steps: int | None = Field(None, ge=1, description="step budget; overrides max_epochs")
    eval_steps: int | None = Field(None, ge=1, description="evaluate every N steps instead of every epoch")
    patience: int | None = Field(4, ge=1, description="early-stopping patience in evaluations; null = off")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of the steps spent warming the learning rate up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    max_length: int = Field(256, ge=8, description="tokens per example (pair: both texts); longer ones are truncated and counted in the record")
    truncation_side: Literal["right", "left"] = Field(
        "right", description="which end of a too-long text is cut: right keeps the beginning (the tokenizers' default), left keeps the end"
    )
    length_grouping: bool = Field(True, description="group training batches by length (less padding, same data per epoch)")
    sort_inference_by_length: bool = Field(True, description="score in length-sorted batches (less padding, same predictions)")
    optim: str = Field("adamw_torch_fused", description="the Trainer's optimizer name")
    torch_compile: bool = Field(False, description="torch.compile the model (a loss for short runs)")
    max_train_samples: int | None = Field(None, ge=1, description="train on a fixed random subset (seed 0) of N rows")
    max_eval_samples: int | None = Field(None, ge=1, description="score a fixed random subset (seed 0) of N validation / test rows")
    oom_retries: int = Field(3, ge=0, description="out of memory: halve the training or evaluation batch this many times at most")


def recipe_fields() -> list[dict[str, Any]]:
    """Every recipe key with its type, default and one-line description (for `harness recipe`)."""
    out = []
    for name, info in Recipe.model_fields.items():
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        out.append({"name": name, "type": kind.replace("NoneType", "null"), "default": info.default,
                    "description": info.description or ""})
    return out


def check_recipe_overrides(overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Reject unknown hyperparameter names early, with a suggestion."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise SpecError(f"{where}: expected a mapping of hyperparameters, got {type(overrides).__name__}")
    for key in overrides:
        if key not in Recipe.model_fields:
            raise SpecError(f"{where}: unknown hyperparameter '{key}'{suggest(key, Recipe.model_fields)}")
    return dict(overrides)


def _validate_overrides(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_recipe_overrides(value, "training")
    except SpecError as exc:
        raise ValueError(str(exc)) from None


# A `training:` block of recipe overrides (tasks, models, suites): unknown names are errors.
RecipeOverrides = Annotated[dict[str, Any], AfterValidator(_validate_overrides)]


def resolve_recipe(*layers: tuple[dict[str, Any], str]) -> Recipe:
    """Merge override layers (later wins) over the built-in defaults and validate the result."""
    merged: dict[str, Any] = {}
    for overrides, where in layers:
        merged.update(check_recipe_overrides(overrides, where))
    try:
        return Recipe(**merged)
    except ValidationError as exc:
        raise SpecError(f"hyperparameters: {format_validation_error(exc)}") from None


# --------------------------------------------------------------------------- search
SEARCH_STRATEGIES = ("grid", "random", "tpe")
TRIAL_BUDGET_FIELDS = ("max_train_samples", "max_epochs", "max_steps")


class SearchRange(Strict):
    """A continuous (or integer) range for `random` / `tpe`: Optuna's Float/IntDistribution."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "SearchRange":
        if not self.low < self.high:
            raise ValueError(f"range: low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("range: a log range needs low > 0")
        return self


def _check_space(space: dict[str, Any]) -> dict[str, Any]:
    for key, values in space.items():
        if key not in Recipe.model_fields:
            raise ValueError(f"search space: unknown hyperparameter '{key}'{suggest(key, Recipe.model_fields)}")
        if isinstance(values, list) and not values:
            raise ValueError(f"search space: '{key}' has no values")
    return space


def _check_budget(budget: dict[str, Any]) -> dict[str, Any]:
    for key in budget:
        if key not in TRIAL_BUDGET_FIELDS:
            raise ValueError(f"search budget: '{key}' is not a trial budget{suggest(key, TRIAL_BUDGET_FIELDS)}; "
                             f"one of {', '.join(TRIAL_BUDGET_FIELDS)}")
    return budget


class SearchBlock(Strict):
    """One layer of a `search:` block (models.yaml defaults / a model, a suite, the command line).
    Layers merge like `training`: later layers win, `space` and `budget` key by key."""

    space: Annotated[dict[str, list[Any] | SearchRange], AfterValidator(_check_space)] = Field(
        default_factory=dict, description="recipe field -> values (a list) or {low, high, log} (random / tpe)")
    strategy: Literal["grid", "random", "tpe"] | None = Field(None, description="grid (default), random or tpe")
    n_trials: int | None = Field(None, ge=1, description="random / tpe: how many configurations to try")
    seeds: int | None = Field(None, ge=1, description="seeds per trial configuration (default 1)")
    budget: Annotated[dict[str, Any], AfterValidator(_check_budget)] = Field(
        default_factory=dict, description="trials only: max_train_samples, max_epochs or max_steps")
    sampler_seed: int | None = Field(None, ge=0, description="seed of Optuna's sampler (default 0)")
    round_size: int | None = Field(None, ge=1, description="tpe: trials proposed per round (default 4)")


class SuiteSearchBlock(SearchBlock):
    """A suite's search block may also hold per-model layers, applied after the suite's own."""

    models: dict[str, SearchBlock] = Field(default_factory=dict)


# --------------------------------------------------------------------------- tasks
class HubSource(Strict):
    path: str
    name: str | None = None
    revision: str | None = None


class SplitSource(Strict):
    """Where one harness split comes from. Which field is used depends on the mode:
    Hub (`hub_split`), upstream URL (`url`, optionally `member` of an archive),
    local upstream layout under --data-dir (`local`), or a file shipped beside the spec (`bundled`).
    The generic local layout is `<data-dir>/<task>/<hub_split>.{parquet,jsonl,csv,tsv}`."""

    hub_split: str | None = None
    url: str | None = None
    member: str | None = None
    local: str | None = None
    bundled: str | None = None
    reader: str | None = Field(None, description="this split's file format when it differs from the task's `reader`")

    @model_validator(mode="after")
    def _member_needs_url(self) -> "SplitSource":
        if self.member and not self.url:
            raise ValueError("'member' needs 'url' (the archive it is read from)")
        return self


class CarveOut(Strict):
    """A validation split cut out of train with a recorded seed and fraction."""

    fraction: float = Field(gt=0, lt=1)
    seed: int


class TaskSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    language: str
    description: str
    text: list[str] = Field(min_length=1, max_length=2, description="one text column, or a pair")
    label: str = Field(description="label column name in the Hub schema")
    labels: list[str] = Field(min_length=2, description="label names; label id = position")
    reader: str = Field(description="file format of the upstream files (see harness.readers)")
    hub: HubSource | None = None
    splits: dict[Literal["train", "validation", "test"], SplitSource]
    validation_from_train: CarveOut | None = None
    drop_labels: list[str | int] = Field(default_factory=list, description="label values dropped (no gold label)")
    drop_empty: bool = Field(
        False, description="drop rows whose text (either text of a pair) is empty or blank; counted per split in the record"
    )
    expected_rows: dict[Literal["train", "validation", "test"], int] = Field(
        default_factory=dict,
        description="rows of the full upstream splits (after drop_labels, before drop_empty and a carve-out)",
    )
    drop_empty: bool = Field(
        False, description="drop rows whose text is empty or only whitespace (counted in the record); default: an error"
    )
    metric: Literal["accuracy"] = "accuracy"
    training: RecipeOverrides = Field(default_factory=dict, description="recipe overrides (default budget)")
    version: int = 1
    spec_file: str = Field("", description="filled in by the loader")
    spec_dir: str = Field("", description="filled in by the loader")

    @field_validator("text", mode="before")
    @classmethod
    def _text_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, value: list[str]) -> list[str]:
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"duplicate label names: {dupes}")
        return value

    @model_validator(mode="after")
    def _complete_splits(self) -> "TaskSpec":
        have = set(self.splits)
        if self.validation_from_train and "validation" in have:
            raise ValueError("give either splits.validation or validation_from_train, not both")
        need = {"train", "test"} | (set() if self.validation_from_train else {"validation"})
        missing = sorted(need - have)
        if missing:
            raise ValueError(f"splits: missing {missing} (or set validation_from_train)")
        return self

    def reader_for(self, split: str) -> str:
        """The reader of one split's upstream file: its own `reader`, else the task's."""
        return self.splits[split].reader or self.reader

    @property
    def is_pair(self) -> bool:
        return len(self.text) == 2

    @property
    def source_label(self) -> str:
        if self.hub:
            return f"hub:{self.hub.path}" + (f"/{self.hub.name}" if self.hub.name else "")
        first = self.splits["train"]
        if first.bundled:
            return "bundled"
        if first.url:
            return "url:" + first.url.split("/")[2]
        return "local"


# --------------------------------------------------------------------------- models
class ModelSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    source: str = Field(description="Hub id, local folder, or package:<module>/<folder>")
    revision: str | None = None
    init: Literal["pretrained", "scratch"] = "pretrained"
    allow_pickle: bool = Field(False, description="also load pytorch_model.bin (a pickle, which can run code); default: safetensors only")
    description: str = ""
    language: str = ""
    training: RecipeOverrides = Field(default_factory=dict)
    search: SearchBlock | None = Field(None, description="hyperparameter search on the validation split")


# --------------------------------------------------------------------------- helpers
def suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _task_fields_at(loc: tuple) -> Any:
    """The field names valid where a TaskSpec error points: a misspelt `splits.train.locl`
    is compared with the fields of a split source, not with the task's own fields."""
    if len(loc) == 2 and loc[0] == "hub":
        return HubSource.model_fields
    if len(loc) == 2 and loc[0] == "validation_from_train":
        return CarveOut.model_fields
    if len(loc) == 3 and loc[0] == "splits":
        return SplitSource.model_fields
    return [*TaskSpec.model_fields, "vars"]


def format_validation_error(exc: ValidationError, context: dict[str, Any] | None = None) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            field = str(err["loc"][-1])
            fields = _task_fields_at(tuple(err["loc"])) if context is None else context
            msg = f"unknown field{suggest(field, fields)}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        parts.append(f"field '{loc}': {msg}")
    return "; ".join(parts)


def read_yaml(path: Path) -> Any:
    """A spec file through the one reader (harness.files): safe, strict about duplicate keys,
    and every unreadable file a one-line SpecError."""
    return files.read_yaml(path, error=SpecError)
