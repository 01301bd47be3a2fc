"""A cell's work folder and, with checkpointing, what resuming a killed cell needs.

The work folder is `RESULTS/<task>/<model>/.work-seed-<k>/` (one per cell, so a rerun knows
whose it is). Without checkpointing it holds nothing worth keeping and is removed when the cell
ends in any way. With checkpointing the Trainer saves its state (weights, optimizer, scheduler,
RNG, trainer state: `save_total_limit=1`, so only the last evaluation's) at each evaluation, and
the harness adds its own: the early-stopping state with the best weights so far
(`harness-best.safetensors`) and the step meter. A rerun of the same configuration resumes from
it; any other configuration removes it. Everything is safetensors or JSON: nothing is unpickled.
"""
from __future__ import annotations

from harness.errors import HarnessError
from harness.files import read_json

import json
import shutil
from pathlib import Path
from typing import NotRequired, TypedDict

CHECKPOINT_MIN_STEPS = 2000  # cells planned for more optimizer steps than this checkpoint by default
CELL_FILE = "harness-cell.json"
STATE_FILE = "harness-state.json"
BEST_WEIGHTS = "harness-best.safetensors"
BEST_LOGITS = "harness-best-validation.safetensors"


def work_dir(record: Path) -> Path:
    return record.parent / f".work-{record.stem}"


def latest_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def prepare(folder: Path, config_hash: str, resume: bool) -> Path | None:
    """Make the work folder ready; return the checkpoint to resume from, if any. A folder left by
    another configuration (or by a run without checkpoints) is removed."""
    checkpoint = None
    if resume and folder.is_dir():
        try:
            same = read_json(folder / CELL_FILE).get("config_hash") == config_hash
        except (HarnessError, AttributeError):  # garbage, a FIFO, not an object: start over
            same = False
        checkpoint = latest_checkpoint(folder) if same else None
    if checkpoint is None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CELL_FILE).write_text(json.dumps({"config_hash": config_hash}))
    return checkpoint


def remove_legacy(cell_folder: Path) -> None:
    """`trainer-*` temp folders of harness versions before per-cell work folders (they were left
    behind by a kill): nothing in them can be resumed."""
    for old in cell_folder.glob("trainer-*"):
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


class CheckpointState(TypedDict):
    """The harness's part of a checkpoint (STATE_FILE): the early-stopping state, the step meter and
    the best evaluation's validation predictions without their logits (kept in BEST_LOGITS)."""

    best: float | None
    best_step: int | None
    bad_evals: int
    stopped_early: bool
    stopped_at_step: NotRequired[int | None]  # absent in checkpoints of older harness versions
    min_steps: NotRequired[int | None]
    meter: dict[str, float]  # seconds, steps, samples, real_tokens, padded_tokens
    best_validation: dict[str, float | int | str] | None  # predict's output without the logits


def save_state(checkpoint: Path, best, meter) -> None:
    """The harness's part of a checkpoint: early stopping (with the best weights) and the meter."""
    import torch
    from safetensors.torch import save_file

    state = CheckpointState(
        best=best.best, best_step=best.best_step, bad_evals=best.bad_evals,
        stopped_early=best.stopped_early, stopped_at_step=best.stopped_at_step, min_steps=best.min_steps,
        meter={k: getattr(meter, k) for k in ("seconds", "steps", "samples", "real_tokens", "padded_tokens")},
        best_validation=None,
    )
    if best.best_state is not None:
        save_file({k: v.contiguous() for k, v in best.best_state.items()}, str(checkpoint / BEST_WEIGHTS))
    if best.best_validation is not None:
        kept = {k: v for k, v in best.best_validation.items() if k != "logits"}
        state["best_validation"] = kept
        save_file({"logits": torch.from_numpy(best.best_validation["logits"]).contiguous()}, str(checkpoint / BEST_LOGITS))
    (checkpoint / STATE_FILE).write_text(json.dumps(state))


def load_state(checkpoint: Path, best, meter) -> int:
    """Restore the harness's part of a checkpoint; returns the step it was saved at."""
    from safetensors.torch import load_file

    state: CheckpointState = json.loads((checkpoint / STATE_FILE).read_text())
    best.best, best.best_step, best.bad_evals = state["best"], state["best_step"], state["bad_evals"]
    best.stopped_early = state["stopped_early"]
    best.stopped_at_step = state.get("stopped_at_step")  # absent in checkpoints of older harness versions
    best.min_steps = state.get("min_steps", best.min_steps)
    for key, value in state["meter"].items():
        setattr(meter, key, value)
    if (checkpoint / BEST_WEIGHTS).is_file():
        best.best_state = load_file(str(checkpoint / BEST_WEIGHTS))
    if state["best_validation"] is not None and (checkpoint / BEST_LOGITS).is_file():
        logits = load_file(str(checkpoint / BEST_LOGITS))["logits"].numpy()
        best.best_validation = {**state["best_validation"], "logits": logits}
    return int(checkpoint.name.split("-")[-1])
