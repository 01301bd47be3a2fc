"""Per-cell plots of a result record: the test confusion matrix and the training curves.

Figures are drawn on `matplotlib.figure.Figure` with an Agg canvas, never through pyplot, so
no global backend or figure registry is touched. Every image is saved at a fixed DPI without
`bbox_inches="tight"`, so its pixel size follows from the formulas below and nothing else:

- confusion matrix, K labels: width = round(DPI * (5.0 + 0.4 * K)), height = round(DPI * (4.0 + 0.4 * K));
  at DPI 100: 580 x 480 pixels for 2 labels, 1740 x 1640 for 31 labels.
- curves: width = DPI * 10.0, height = DPI * 4.2; 1000 x 420 pixels at DPI 100.

Files land in the cell folder `RESULTS/<task>/<model>/` as `seed-<k>-confusion_matrix.png` and
`seed-<k>-curves.png` (a cell folder holds several seeds). Writes are atomic (temp file, rename).
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.files import atomic_write_bytes
from harness.records.schema import CurvePoint, HistoryEntry, ResultRecord, Training

DPI = 100
CM_BASE_WIDTH_IN = 5.0
CM_BASE_HEIGHT_IN = 4.0
CM_INCHES_PER_LABEL = 0.4
CURVES_SIZE_IN = (10.0, 4.2)
MAX_TICK_CHARS = 24  # longer label names are shortened on the axes (the full list is in the record)


def confusion_matrix_size_px(n_labels: int) -> tuple[int, int]:
    """(width, height) in pixels of the confusion-matrix image for `n_labels` labels."""
    return (
        round(DPI * (CM_BASE_WIDTH_IN + CM_INCHES_PER_LABEL * n_labels)),
        round(DPI * (CM_BASE_HEIGHT_IN + CM_INCHES_PER_LABEL * n_labels)),
    )


def curves_size_px() -> tuple[int, int]:
    """(width, height) in pixels of the training-curves image."""
    return round(DPI * CURVES_SIZE_IN[0]), round(DPI * CURVES_SIZE_IN[1])


def plot_filenames(seed: int) -> dict[str, str]:
    return {"confusion_matrix": f"seed-{seed}-confusion_matrix.png", "curves": f"seed-{seed}-curves.png"}


# --------------------------------------------------------------------------- helpers
def _new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    """Render to PNG in memory, then write the bytes atomically (temp file in the same folder, rename)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _short(name: str) -> str:
    name = str(name)
    return name if len(name) <= MAX_TICK_CHARS else name[: MAX_TICK_CHARS - 1] + "…"


def _completed(record: ResultRecord, what: str) -> None:
    if not record.completed:
        raise HarnessError(f"{record.where}: no {what} to plot, the cell did not complete")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


# --------------------------------------------------------------------------- plots
def plot_confusion_matrix(record: ResultRecord, path: str | Path) -> Path:
    """The test confusion matrix, row-normalised by true label and annotated with raw counts.

    Colour = share of the true label's test rows (rows without support stay 0); the number in a
    cell is the raw count (zeros are written only up to 10 labels, to keep 30+ labels readable).
    Pixel size: see `confusion_matrix_size_px` (grows with the label count).
    """
    import numpy as np

    _completed(record, "confusion matrix")
    test = record.test
    counts = np.asarray(test.confusion_matrix, dtype=float)
    labels = list(record.labels or [str(i) for i in range(counts.shape[0])])
    k = len(labels)
    if counts.shape != (k, k):
        raise HarnessError(f"{record.where}: confusion matrix of shape {counts.shape} does not match the {k} labels")
    support = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)

    width_px, height_px = confusion_matrix_size_px(k)
    fig = _new_figure(width_px / DPI, height_px / DPI)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    tick_font = 9 if k <= 10 else 7
    count_font = 9 if k <= 10 else (7 if k <= 20 else 6)
    ticks = list(range(k))
    ax.set_xticks(ticks, [_short(n) for n in labels], rotation=90 if k > 6 else 45,
                  ha="center" if k > 6 else "right", fontsize=tick_font)
    ax.set_yticks(ticks, [_short(n) for n in labels], fontsize=tick_font)
    ax.set_xlabel("predicted label", fontsize=9)
    ax.set_ylabel("true label", fontsize=9)
    for i in range(k):
        for j in range(k):
            c = int(counts[i, j])
            if c == 0 and k > 10:
                continue
            ax.text(j, i, str(c), ha="center", va="center", fontsize=count_font,
                    color="white" if shares[i, j] > 0.5 else "black")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("share of the true label's test rows", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    accuracy = _number(test.accuracy)
    acc_text = f"test accuracy {accuracy:.2%}" if accuracy is not None else "test accuracy –"
    fig.suptitle(
        f"{record.where}\n{acc_text} (n = {int(counts.sum())})",
        fontsize=10,
    )
    return _save(fig, path)


def plot_curves(record: ResultRecord, path: str | Path) -> Path:
    """Draw `curves_figure(record)` into a PNG at `path` (atomically)."""
    return _save(curves_figure(record), path)


def curves_figure(record: ResultRecord):
    """Training and validation loss (left) and validation accuracy / macro-F1 in percent (right)
    against optimizer steps (integer ticks), with dashed chance lines (majority class, uniform
    guess) and the early-stopping metric and patience named from the record's configuration.
    The validation lines follow the record's `validation_curve` (about 20 points a run) where it
    has one, else the selection evaluations (`history`).

    The best checkpoint (`training.best_step`, the early-stopping point) is a dashed vertical line
    in both panels, with a legend entry. An empty history gives panels that say so; a single
    point is drawn as a marker. Pixel size: `curves_size_px()` (fixed).
    """
    from matplotlib.ticker import MaxNLocator

    _completed(record, "training curves")
    training = record.training
    history: list[HistoryEntry | CurvePoint] = sorted(training.history if training else [], key=lambda h: h.step)
    curve = _validation_points(training, history)
    best_step = _number(training.best_step if training else None)

    fig = _new_figure(*CURVES_SIZE_IN)
    loss_ax, score_ax = fig.subplots(1, 2)

    def series(key: str, points: list[HistoryEntry | CurvePoint] = history) -> tuple[list[float], list[float]]:
        pairs = [(float(h.step), _number(getattr(h, key, None))) for h in points]
        pairs = [(s, v) for s, v in pairs if v is not None]
        return [s for s, _ in pairs], [v for _, v in pairs]

    steps, loss = _loss_series(training, series)
    if loss:
        loss_ax.plot(steps, loss, marker="o", markersize=3, color="tab:red", label="training loss")
    val_steps, val_loss = series("validation_loss", curve)
    if val_loss:
        loss_ax.plot(val_steps, val_loss, marker=".", markersize=3, color="tab:purple", label="validation loss")
    k = len(record.labels)
    if k >= 2:  # the loss of a uniform guess: a loss near it has learnt nothing
        loss_ax.axhline(math.log(k), color="gray", linestyle=(0, (1, 2)), linewidth=1, label=f"chance: uniform guess (ln {k} = {math.log(k):.2f})")
    top = max([*loss, *val_loss, math.log(k) if k >= 2 else 0.0]) if loss or val_loss or k >= 2 else 1.0
    loss_ax.set_ylim(0, 1.1 * top)  # from zero, chance included: noise is not drawn as learning
    acc_steps, acc = series("validation_accuracy", curve)
    f1_steps, f1 = series("validation_macro_f1", curve)
    if acc:
        score_ax.plot(acc_steps, [100 * v for v in acc], marker="o", markersize=3, color="tab:blue", label="validation accuracy")
    if f1:
        score_ax.plot(f1_steps, [100 * v for v in f1], marker="s", markersize=3, color="tab:green", label="validation macro-F1")
    for value, text, style in _chance_lines(record):
        score_ax.axhline(value, color="gray", linestyle=style, linewidth=1, label=text)

    for ax, has_data, ylabel in ((loss_ax, bool(loss or val_loss), "loss"), (score_ax, bool(acc or f1), "validation score (%)")):
        ax.set_xlabel("optimizer step", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if not has_data:
            ax.text(0.5, 0.5, "no history recorded", ha="center", va="center", transform=ax.transAxes,
                    fontsize=10, color="gray")
        if best_step is not None:
            ax.axvline(best_step, color="black", linestyle="--", linewidth=1, label=f"best step {int(best_step)}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    score_ax.set_ylim(0, 100)
    last = _number(training.steps if training else None) or max([*steps, *acc_steps, 1.0])
    for ax in (loss_ax, score_ax):  # the whole run, from step 0: integer ticks even for one point
        ax.set_xlim(0, max(1.0, last))
    loss_ax.set_title("training and validation loss", fontsize=10)
    score_ax.set_title(f"validation (early stopping on {_stopping_rule(record)})", fontsize=10)
    stopped = " (stopped early)" if training and training.stopped_early else ""
    fig.suptitle(
        f"{record.where}: "
        f"{training.steps if training else '–'} steps, best step {int(best_step) if best_step is not None else '–'}{stopped}",
        fontsize=10,
    )
    return fig


def _validation_points(training: Training | None,
                       history: list[HistoryEntry | CurvePoint]) -> list[HistoryEntry | CurvePoint]:
    """The validation curve: the record's `validation_curve` (about `curve_points` points and the
    selection evaluations), else the selection evaluations alone (older records, curve_points 0)."""
    curve: list[HistoryEntry | CurvePoint] = list((training.validation_curve if training else None) or [])
    return sorted(curve, key=lambda p: p.step) if curve else history


def _loss_series(training: Training | None, series) -> tuple[list[float], list[float]]:
    """The training loss curve: the record's `loss_curve` (logged about 25 times a run), else the
    loss at each evaluation (records written before the curve was kept)."""
    curve = [(float(p.step), _number(p.loss)) for p in (training.loss_curve if training else None) or []]
    curve = sorted((s, v) for s, v in curve if v is not None)
    if curve:
        return [s for s, _ in curve], [v for _, v in curve]
    return series("train_loss")


def _stopping_rule(record: ResultRecord) -> str:
    """The early-stopping metric and patience, from the record's own configuration."""
    training, recipe = record.training, record.config.recipe
    metric = (training.selection_metric if training else None) or recipe.get("selection_metric") or "accuracy"
    patience = recipe.get("patience")
    rule = f"validation {metric.replace('_', '-')}"
    start = f" from step {training.min_steps}" if training and training.min_steps else ""
    return rule + (f", patience {patience}{start}" if patience else ", no patience: best of all evaluations")


def _chance_lines(record: ResultRecord) -> list[tuple[float, str, str]]:
    """Chance levels in percent: always predicting the validation split's majority class
    (its accuracy), and guessing uniformly among the labels (expected accuracy 1/K)."""
    lines = []
    references = (record.references or {}).get("validation") or []
    if references:
        top = max(references.count(label) for label in set(references))
        lines.append((100 * top / len(references), "chance: majority class", (0, (5, 3))))
    k = len(record.labels)
    if k:
        lines.append((100 / k, f"chance: uniform guess (1/{k})", (0, (1, 2))))
    return lines


def write_cell_plots(record: ResultRecord, folder: str | Path) -> list[Path]:
    """Write `seed-<k>-confusion_matrix.png` and `seed-<k>-curves.png` for a completed record into
    `folder` (the cell folder RESULTS/<task>/<model>/); a failed record gets no plots ([]).

    Sizes at DPI 100: confusion matrix (500 + 40 K) x (400 + 40 K) pixels for K labels (more
    exactly: `confusion_matrix_size_px`), curves 1000 x 420 pixels.
    """
    if not record.completed:
        return []
    folder = Path(folder)
    names = plot_filenames(record.seed)
    return [
        plot_confusion_matrix(record, folder / names["confusion_matrix"]),
        plot_curves(record, folder / names["curves"]),
    ]
