"""The validation curve of one cell: the validation split scored about `curve_points` times over
training (recipe `curve_points`, default 20), beside the selection evaluations (every epoch, or
every `eval_steps`) that early stopping and the best checkpoint follow.

The curve's evaluations only look: they run after the optimizer step (outside the step meter's
window), through the same fast inference path as the selection evaluations
(`EvalBatch.predict`: length-sorted batches, no gradients, the model put back in training mode),
use no random numbers, and never reach the Trainer's `on_evaluate`, its log history or the
early-stopping state. So the selected checkpoint, the step early stopping fires at and every
score of the record are the same with the curve on or off (tests/test_runner.py checks it);
the cost is the extra validation passes, in the cell's wall time."""
from __future__ import annotations

import numpy as np

from harness.metrics import metric_names, summary_metrics
from harness.records.schema import CurvePoint, HistoryEntry


def curve_every(total_steps: int, points: int) -> int | None:
    """Optimizer steps between two curve points: about `points` over the run; None when off (0)."""
    if points <= 0 or total_steps <= 0:
        return None
    return max(1, total_steps // points)


def score_validation(fast, model) -> dict[str, float]:
    """The validation loss and every registered metric of the model as it is now, through the
    fast path (`fast`: the trainer's FastEval: dataset, collator, batch, precision, sort)."""
    from harness.train.scoring import validation_loss

    out = fast.batch.predict(model, fast.dataset, fast.collator, fast.precision, fast.sort, warmup=False)
    references = np.asarray(fast.dataset["labels"]).tolist()
    scores = {"validation_loss": validation_loss(out["logits"], references)}
    for key, value in summary_metrics(references, out["logits"].argmax(-1).tolist()).items():
        scores[f"validation_{key}"] = value
    return scores


def validation_curve_callback(points: int, fast):
    """A TrainerCallback that scores the validation split through `fast` (the trainer's FastEval)
    every `curve_every(max_steps, points)` steps, keeping the points it scored; None when
    `points` is 0 (per evaluation only)."""
    if points <= 0:
        return None
    from transformers import TrainerCallback

    class ValidationCurve(TrainerCallback):
        def __init__(self):
            self.points: list[dict[str, float]] = []  # step, epoch and score_validation's scores
            self.every: int | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.every = curve_every(int(state.max_steps or 0), points)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if self.every is None or state.global_step % self.every:
                return
            if control.should_evaluate:  # the selection evaluation scores these weights next (curve_of keeps it)
                return
            scores = score_validation(fast, model)
            self.points.append({"step": int(state.global_step), "epoch": round(float(state.epoch or 0.0), 4), **scores})

    return ValidationCurve()


def curve_of(curve, history: list[HistoryEntry]) -> list[CurvePoint] | None:
    """The record's `training.validation_curve`: the curve's points and the selection evaluations
    (`history`, marked `selection: true`) by step; at a step with both, the selection's entry (the
    same weights). None when the curve was off (`curve` None)."""
    if curve is None:
        return None
    keys = ("validation_loss", *(f"validation_{name}" for name in metric_names()))
    by_step: dict[int, dict[str, float | bool | None]] = {int(p["step"]): {**p, "selection": False} for p in curve.points}
    for entry in history:
        by_step[entry.step] = {"step": entry.step, "epoch": entry.epoch,
                               **{k: getattr(entry, k, None) for k in keys}, "selection": True}
    return [CurvePoint.model_validate(by_step[step]) for step in sorted(by_step)]
