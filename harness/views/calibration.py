"""Calibration per task x model: the mean over completed seeds of the expected calibration error
and the Brier score each record holds (`metrics.test.calibration`, harness.probabilities), for the
leaderboard (markdown, CSV, JSON), the web page and the report (through the leaderboard's
markdown). Seeds written before probabilities were kept have none and are counted apart
(`not_recorded`)."""
from __future__ import annotations

from typing import Callable

from harness.probabilities import CALIBRATION_DEFINITION
from harness.records.grouping import RecordGroup
from harness.views.leaderboard_json import CalibrationJson
from harness.views.formatting import calibration_text
from harness.views.text import md_escape

NOT_RECORDED = "not recorded (records written before probabilities were kept)"
__all__ = ["CALIBRATION_DEFINITION", "NOT_RECORDED", "calibration_rows"]


def calibration_rows(groups: dict[tuple[str, str], RecordGroup]) -> list[CalibrationJson]:
    """One row per task x model with completed seeds (`groups`: harness.records.grouping.group_records):
    ece and brier (means over the seeds that recorded them; None when none did), seeds (how many
    did), not_recorded (how many did not) and bins (the ECE's bin count)."""
    rows: list[CalibrationJson] = []
    for (task, model), group in groups.items():
        if not group.completed:
            continue
        blocks = [r.test.calibration for r in group.completed]
        have = [b for b in blocks if b is not None and b.ece is not None and b.brier is not None]
        rows.append({
            "task": task, "model": model, "seeds": len(have), "not_recorded": len(blocks) - len(have),
            "ece": sum(b.ece for b in have) / len(have) if have else None,
            "brier": sum(b.brier for b in have) / len(have) if have else None,
            "bins": have[0].bins if have else None,
        })
    return rows


def calibration_markdown(rows: list[CalibrationJson], label: Callable[[str], str] = str) -> list[str]:
    """The markdown lines of a calibration table (task, model, ECE, Brier, seeds); `label`: a model
    as its rows show it (the leaderboard's, with its mark)."""
    if not rows:
        return ["No completed run."]
    lines = ["| task | model | ECE | Brier | seeds |", "|---|---|---:|---:|---:|"]
    for row in rows:
        seeds = f"{row['seeds']}" + (f" ({row['not_recorded']} not recorded)" if row["not_recorded"] else "")
        lines.append(f"| {md_escape(row['task'])} | {md_escape(label(row['model']))} | {calibration_text(row['ece'])} | "
                     f"{calibration_text(row['brier'])} | {seeds} |")
    lines += ["", f"ECE and Brier score (lower is better): {CALIBRATION_DEFINITION}. Means over seeds; n/a: "
              f"{NOT_RECORDED}."]
    return lines
