"""The training recipe: every hyperparameter --set can change, validated, with its layers."""
from __future__ import annotations
from harness.spec.common import Strict, format_validation_error, suggest

from typing import Annotated, Any, Literal, TypedDict
from pydantic import AfterValidator, Field, ValidationError, field_validator
from harness.errors import SpecError
from harness.metrics import selection_metric, selection_metrics


# the value of one recipe field: a --set value once parsed, a search value, a trial's parameter
RecipeValue = float | int | str | bool | None


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
    selection_metric: str = Field(
        "accuracy", description=f"validation metric that early stopping, the best checkpoint and a search follow: "
        f"{' | '.join(selection_metrics())} (loss: lower is better)")
    min_steps: int | None = Field(
        None, ge=0, description="earliest optimizer step early stopping may stop at; null = the warm-up steps "
        "(evaluations before it never count towards patience)")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of the steps spent warming the learning rate up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    max_length: Annotated[int, Field(ge=8)] | Literal["auto"] = Field(
        "auto", description="tokens per example (pair: both texts); longer ones are truncated and counted in the record. "
        "auto: the model's limit (its positions) capped by the task's longest text; more than the model's positions is an error"
    )
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
    curve_points: int = Field(
        20, ge=0, le=1000, description="validation curve: score the validation split about this many times over "
        "training, beside the selection evaluations (changes no score, no selection; costs the extra passes); "
        "0 = per evaluation only")

    @field_validator("selection_metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in selection_metrics():
            raise ValueError(f"unknown selection metric '{value}'{suggest(value, selection_metrics())}; "
                             f"choose from {', '.join(selection_metrics())}")
        return value

    def selects_on(self):
        """The metric early stopping and the best checkpoint follow, with its direction."""
        return selection_metric(self.selection_metric)

    def hashed(self) -> dict[str, RecipeValue]:
        """The recipe as it enters a cell's configuration (and so its hash): a field added after
        records existed (ADDED_FIELDS) appears only where it is set away from its default, so a
        record written before it existed keeps its hash and stays current."""
        return self.model_dump(exclude={k for k in ADDED_FIELDS if getattr(self, k) == Recipe.model_fields[k].default}
                               | set(UNSCORED_FIELDS))


# Recipe fields added after records were written with today's hashes: hashed only when not at the default.
ADDED_FIELDS = ("selection_metric", "min_steps")
# Recipe fields that change what a record shows, never a score or the selection: never hashed (a record
# with a denser curve is as current as one without; tests/test_runner.py checks the scores are equal).
UNSCORED_FIELDS = ("curve_points",)


class RecipeField(TypedDict):
    """One recipe key as `harness recipe` lists it."""

    name: str
    type: str
    default: RecipeValue
    description: str


def recipe_fields() -> list[RecipeField]:
    """Every recipe key with its type, default and one-line description (for `harness recipe`)."""
    out = []
    for name, info in Recipe.model_fields.items():
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        out.append(RecipeField(name=name, type=kind.replace("NoneType", "null"), default=info.default,
                               description=info.description or ""))
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
        raise SpecError(f"hyperparameters: {format_validation_error(exc, Recipe.model_fields)}") from None


