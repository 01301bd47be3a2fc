"""Progress of a grid: one line per cell start and end with [k/N], elapsed time and an ETA,
and, on a terminal, a progress bar inside the cell. Plain lines when the output is a log file."""
from __future__ import annotations

import sys
import time
from typing import Callable

from transformers import TrainerCallback


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class GridProgress:
    """Counts finished cells; the ETA is the mean duration of the cells trained so far times the
    cells left, divided by how many run at once."""

    def __init__(self, total: int, parallel: int = 1, log: Callable[[str], None] = print):
        self.total, self.parallel, self.log = total, max(1, parallel), log
        self.started = time.monotonic()
        self.finished = 0
        self.trained_seconds: list[float] = []

    def eta(self) -> str:
        left = self.total - self.finished
        if not self.trained_seconds or left <= 0:
            return "unknown" if left > 0 else "0m00s"
        mean = sum(self.trained_seconds) / len(self.trained_seconds)
        return _clock(mean * left / self.parallel)

    def start_line(self, index: int, label: str) -> str:
        return f"[{index}/{self.total}] start {label}"

    def end(self, label: str, status: str, seconds: float, detail: str = "") -> None:
        self.finished += 1
        if status in ("completed", "failed"):
            self.trained_seconds.append(seconds)
        elapsed = _clock(time.monotonic() - self.started)
        self.log(
            f"[{self.finished}/{self.total}] {status} {label} in {_clock(seconds)}"
            + (f": {detail}" if detail else "") + f" | elapsed {elapsed}, ETA {self.eta()}"
        )

    def report(self, outcome) -> None:
        """The end line of a cell's outcome (harness.execution.execute.CellOutcome)."""
        self.end(outcome.label, outcome.status, outcome.seconds, outcome.summary or outcome.error or "")


def use_progress_bar(stream=None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class CellProgressBar(TrainerCallback):
    """A tqdm bar over the optimizer steps of one cell, with the last training loss and
    validation score; only used when the output is a terminal."""

    def __init__(self, label: str):
        self.label, self.bar, self.shown = label, None, {}

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.max_steps, desc=self.label, unit="step", leave=False, dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def postfix(self, logs: dict) -> dict[str, str]:
        """What the bar shows after `logs`: the last training loss and validation accuracy (in
        percent, as every other output), each kept until a newer value arrives."""
        if "loss" in logs:
            self.shown["loss"] = f"{logs['loss']:.3f}"
        if "eval_accuracy" in logs:
            self.shown["val_acc"] = f"{100 * logs['eval_accuracy']:.1f}%"
        return dict(self.shown)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and ("loss" in logs or "eval_accuracy" in logs):
            self.bar.set_postfix(self.postfix(logs), refresh=False)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.bar is not None and metrics and "eval_accuracy" in metrics:
            self.bar.set_postfix(self.postfix(metrics), refresh=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
