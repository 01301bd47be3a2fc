"""Parts of a result record that say how its scores came about: the training curves' points, the
classification head, an evaluated checkpoint's label alignment and facts, and a search's selection.

Each keeps its keys in their order on disk and keeps keys it does not declare (harness.records.parts),
so a record read and written again is the same JSON; a key it lacks takes its default (and stays
absent when written again). harness.records.schema holds them.
"""
from __future__ import annotations

from pydantic import Field

from harness.records.parts import _Part
from harness.spec.recipe import RecipeValue


# --------------------------------------------------------------------------- training
class LossPoint(_Part):
    """One logged training loss (training.loss_curve, about 25 a run)."""

    step: int
    epoch: float = 0.0
    loss: float | None = None


class CurvePoint(_Part):
    """One scoring of the validation split (training.validation_curve): the loss and every
    registered metric (`validation_<name>`, extra keys), and whether it was a selection evaluation."""

    step: int
    epoch: float | None = None
    validation_loss: float | None = None
    selection: bool = False


class HeadFacts(_Part):
    """The classification head: always a new one initialised from the seed; `replaced` when the
    checkpoint had one (its label count and problem_type, as planning read them)."""

    initialised: str = "seed"
    replaced: bool = False
    checkpoint_labels: int | None = None
    checkpoint_problem_type: str | None = None


# --------------------------------------------------------------------------- evaluation
class LabelAlignment(_Part):
    """An evaluated checkpoint's label alignment (harness.planning.labels.Alignment): checkpoint
    label -> task label (None: ignored), and how each was aligned (name or label_map)."""

    checkpoint_labels: list[str] = Field(default_factory=list)
    map: dict[str, str | None] = Field(default_factory=dict)
    by: dict[str, str] = Field(default_factory=dict)
    rule: str = ""


class EvaluationFacts(_Part):
    """What an evaluation record says was (not) trained and which variance exists."""

    trained: bool = False
    head: str = ""
    seed_variance: float = 0.0
    variance: str = ""


# --------------------------------------------------------------------------- search
class SpaceRange(_Part):
    low: float | int
    high: float | int
    log: bool = False


class TrialScores(_Part):
    """One proposed configuration of a search: its validation score per trial seed."""

    params: dict[str, RecipeValue]
    validation_scores: list[float | None] = Field(default_factory=list)
    mean: float | None = None
    records: list[str] = Field(default_factory=list)


class SearchSelection(_Part):
    """A final record's `selection` (harness.planning.search.select): the resolved search, the rule,
    every trial and the chosen configuration (None: every trial failed)."""

    space: dict[str, list[RecipeValue] | SpaceRange] = Field(default_factory=dict)
    strategy: str = "grid"
    n_trials: int | None = None
    seeds: int = 1
    budget: dict[str, RecipeValue] = Field(default_factory=dict)
    sampler_seed: int = 0
    round_size: int | None = None
    metric: str = ""
    rule: str = ""
    trials: list[TrialScores] = Field(default_factory=list)
    chosen: dict[str, RecipeValue] | None = None
    chosen_mean: float | None = None
