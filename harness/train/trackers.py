"""Experiment trackers: `--report-to tensorboard|wandb|mlflow|trackio|none`.

The Trainer's own integrations do the logging (transformers.integrations); this module only
checks that the libraries asked for are installed (a one-line error before any training), names
each cell's run `<task>/<model>/seed-<k>`, and gives the trackers the cell's configuration.

TensorBoard writes under the cell folder (`RESULTS/<task>/<model>/tensorboard/seed-<k>/`)
through an explicit writer, because the Trainer's default log folder lives in the cell's
temporary work folder, which is deleted after training. wandb, MLflow and Trackio read their
usual settings from the environment (`WANDB_PROJECT`, `MLFLOW_TRACKING_URI`, ...).
"""
from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, TypedDict

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.spec.model import ModelSpec
    from harness.spec.recipe import Recipe, RecipeValue

# tracker -> (module that must be importable, pip package)
TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
    "trackio": ("trackio", "trackio"),
}
NONE = "none"


class TrackerArgs(TypedDict):
    """The Trainer's arguments that name the trackers and the cell's run."""

    report_to: str | list[str]  # trainer_report_to
    run_name: str  # run_name


def check_trackers(names: list[str] | tuple[str, ...]) -> list[str]:
    """The trackers to use, deduplicated and in order; `none` alone means none. A name that is
    not a tracker, `none` mixed with trackers, or a library that is not installed is an error."""
    chosen: list[str] = []
    for name in names:
        if name != NONE and name not in TRACKERS:
            raise HarnessError(f"--report-to {name}: not a tracker; use one of {', '.join([*TRACKERS, NONE])}")
        if name not in chosen:
            chosen.append(name)
    if NONE in chosen:
        if len(chosen) > 1:
            raise HarnessError("--report-to none cannot be combined with a tracker")
        return []
    for name in chosen:
        module, package = TRACKERS[name]
        if find_spec(module) is None:
            raise HarnessError(f"--report-to {name} needs the {package} package: pip install {package}")
    return chosen


def run_name(task: str, model: str, seed: int) -> str:
    return f"{task}/{model}/seed-{seed}"


def trainer_report_to(trackers: list[str]) -> list[str] | str:
    """The TrainingArguments `report_to` value: TensorBoard is attached as an explicit callback
    writing under the cell folder, so only the other trackers go through `report_to`."""
    rest = [t for t in trackers if t != "tensorboard"]
    return rest or "none"


def tracker_config(task: str, model: ModelSpec, seed: int, precision: str, recipe: Recipe) -> dict[str, RecipeValue]:
    """The cell's configuration as the trackers log it (attached to the model config, which every
    Trainer integration logs with the training arguments)."""
    return {
        "task": task,
        "model": model.name,
        "model_source": model.source,
        "model_revision": model.revision,
        "init": model.init,
        "seed": seed,
        "precision": precision,
        **{f"recipe.{key}": value for key, value in recipe.model_dump().items()},
    }
