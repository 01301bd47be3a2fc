"""THE rule "is this record current for this cell?", answered once for the plan, the executor and search.

A record is current when it completed with the cell's config hash. Everything else about it
(missing, unreadable, failed, another config) decides only what the plan calls the cell and
whether search waits for it; `record_verdict` reads the record once and says which.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.errors import HarnessError
from harness.records.store import RecordStatus, ResultRecord, read_record


class CellStatus(StrEnum):
    """What the plan calls a cell (the `status` column of `harness run --dry-run`)."""

    DONE = "done"  # a current record: nothing to train (unless --force)
    TODO = "todo"  # no record yet
    STALE = "stale"  # a record for another config, or one that cannot be read (set aside, retrained)
    FAILED = "failed"  # the last attempt failed: retried
    RUNNING = "running"  # claimed by a live process: this run leaves it alone


class RecordState(StrEnum):
    MISSING = "missing"
    UNREADABLE = "unreadable"
    CURRENT = "current"  # completed with this config hash
    STALE = "stale"  # completed with another config hash
    FAILED = "failed"  # failed (with this config or another: see `RecordVerdict.failed_here`)


@dataclass(frozen=True)
class RecordVerdict:
    state: RecordState
    record: ResultRecord | None = None
    reason: str = ""  # why an unreadable record could not be read

    @property
    def current(self) -> bool:
        return self.state is RecordState.CURRENT

    def failed_here(self, digest: str) -> bool:
        """A failure of this very config (search counts it as a failed trial, not a pending one)."""
        return self.state is RecordState.FAILED and self.record is not None and self.record.config_hash == digest


def record_verdict(path: Path, digest: str) -> RecordVerdict:
    """Read the record at `path` once and judge it against the cell's config hash `digest`."""
    if not path.exists():
        return RecordVerdict(RecordState.MISSING)
    try:
        record = read_record(path)
    except HarnessError as exc:
        return RecordVerdict(RecordState.UNREADABLE, reason=str(exc))
    if record.status is RecordStatus.FAILED:
        return RecordVerdict(RecordState.FAILED, record)
    return RecordVerdict(RecordState.CURRENT if record.config_hash == digest else RecordState.STALE, record)


def cell_status(verdict: RecordVerdict, claimed_live: bool) -> CellStatus:
    """The plan's name for a cell, from its record's verdict and whether a live run holds its claim."""
    if not verdict.current and claimed_live:
        return CellStatus.RUNNING
    return {RecordState.MISSING: CellStatus.TODO, RecordState.UNREADABLE: CellStatus.STALE,
            RecordState.CURRENT: CellStatus.DONE, RecordState.STALE: CellStatus.STALE,
            RecordState.FAILED: CellStatus.FAILED}[verdict.state]
