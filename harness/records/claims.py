"""Per-cell claims: a lock file beside the record, so that two `harness run` processes (two
shells, two Ray drivers, a resubmitted Slurm job) never train the same cell.

`RESULTS/<task>/<model>/seed-<k>.claim` is created atomically (O_CREAT | O_EXCL) and holds the
owner's host, pid and start time; its modification time is the heartbeat, refreshed by a
thread every HARNESS_CLAIM_HEARTBEAT_S seconds (harness.env) while the cell trains. A claim is dead when its owner's process
is gone (same host) or its heartbeat is older than HARNESS_CLAIM_STALE_S (any host: a lost node); a dead
claim is taken over under a lock on the cell folder, and the new record says whose claim it took.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TypedDict

from harness.env import heartbeat_s, stale_after_s


class ClaimInfo(TypedDict, total=False):
    """A claim as read back: its owner (host, pid, token, start), the heartbeat's age in seconds,
    and `broken` (why) where the file is not a whole claim. A dead claim taken over is kept in the
    new record's provenance (without its token)."""

    host: str
    pid: int
    token: str
    started: str
    age: float
    broken: str


def claim_path(record: Path) -> Path:
    return record.with_name(record.name[: -len(".json")] + ".claim")


def read_claim(path: Path) -> ClaimInfo | None:
    """The claim's owner and heartbeat age; None when there is no claim; {"broken": reason} when
    something is there that is not a whole claim (empty, garbage, unreadable, a folder, a FIFO):
    that is never a live run (a full disk leaves a 0-byte claim), so it cannot block the cell.
    Read through harness.files, which refuses a FIFO instead of waiting on it."""
    from harness.errors import HarnessError
    from harness.files import read_json

    if not os.path.lexists(path):
        return None
    try:
        info = read_json(path, "claim")
        age = time.time() - path.stat().st_mtime
    except (HarnessError, OSError) as exc:
        if not os.path.lexists(path):
            return None
        return {"broken": str(exc), "host": "?", "pid": -1, "token": "", "age": time.time() - _mtime(path)}
    if not (isinstance(info, dict) and isinstance(info.get("host"), str) and isinstance(info.get("pid"), int)
            and isinstance(info.get("token"), str) and info["token"]):
        return {"broken": f"{path}: not a claim (host, pid, token)", "host": "?", "pid": -1, "token": "", "age": age}
    return {**info, "age": age}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_live(info: ClaimInfo | None) -> bool:
    if not info or info.get("broken"):
        return False
    if info.get("age", 0) > stale_after_s():
        return False
    if info.get("host") == socket.gethostname():
        return _pid_alive(int(info.get("pid", -1)))
    return True


def describe(info: ClaimInfo) -> str:
    if info.get("broken"):
        return f"a broken claim ({info['broken']})"
    return f"{info.get('host')}:{info.get('pid')} (heartbeat {info.get('age', 0):.0f}s ago)"


@dataclass
class Claim:
    path: Path
    token: str
    took_over: ClaimInfo | None = None  # the dead claim this one replaced (without its token)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_s()):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def start(self) -> "Claim":
        self._thread = threading.Thread(target=self._beat, name=f"claim-{self.path.name}", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        self._stop.set()
        info = read_claim(self.path)
        if info and info.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _create(path: Path) -> Claim | None:
    """Write the whole claim to a temp file first, then link it to the claim's name: link() fails
    if the name exists (O_EXCL semantics), and the name only ever points at a complete claim, so
    a failed write (full disk) leaves no claim at all, never an empty one."""
    from harness.files import write_temp

    token = uuid.uuid4().hex
    payload = {"host": socket.gethostname(), "pid": os.getpid(), "token": token,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = write_temp(path.with_name(path.name + ".part"), json.dumps(payload).encode("utf-8"))  # beside it, whatever is there
    try:
        os.link(tmp, path)
    except FileExistsError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return Claim(path, token)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    with open(folder / ".claims.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def try_claim(record: Path) -> tuple[Claim | None, ClaimInfo | None]:
    """(our claim, None), or (None, the live owner) when another process holds the cell."""
    path = claim_path(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    claim = _create(path)
    if claim is None:
        with _folder_lock(path.parent):  # one taker at a time judges and replaces a dead claim
            info = read_claim(path)
            if is_live(info):
                return None, info
            _remove(path)
            claim = _create(path)
            if claim is None:
                return None, read_claim(path)
            claim.took_over = ClaimInfo(**{k: v for k, v in (info or {}).items() if k != "token"})
    return claim.start(), None


def _remove(path: Path) -> None:
    """Remove a dead or broken claim, whatever it is (a file, a FIFO, a folder)."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def live_claim(record: Path) -> ClaimInfo | None:
    info = read_claim(claim_path(record))
    return info if is_live(info) else None
