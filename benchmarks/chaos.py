"""Fault injection (`make chaos`): full disk, read-only results folder, kill -9 at random moments
of run / report / leaderboard, tampered records and claims. Not part of `make test` (minutes).

Every scenario runs in a fresh work folder W holding the data, the tiny model and W/results, and
checks the same promises afterwards:
  - nothing lost: every record that was complete before the fault is still readable at its place
    (the same one, or a complete newer one), and no finished cell has neither;
  - nothing outside: no file in W outside W/results was created or changed;
  - no traceback: a command exits 0, 1 or 2, or dies by our own SIGKILL.
It prints one line per scenario and a total: `N scenarios: N passed` and exits 1 on any failure.

    python benchmarks/chaos.py [--kills 6] [--tampers 40] [--seed 0]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from helpers import make_record, tiny_bert, write_generic_task, write_models_file, write_results  # noqa: E402

LABELS = ["negative", "positive"]
TASK = "toy-sentiment"


# --------------------------------------------------------------------------- the work folder
class Work:
    """W: data, tasks, models.yaml and the tiny model, and W/results (the only place to write)."""

    def __init__(self, base: Path, model: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="chaos-", dir=base))
        self.data, self.tasks = self.dir / "data", self.dir / "tasks"
        write_generic_task(self.data, self.tasks, TASK, sizes=(32, 12, 12))
        self.models = write_models_file(self.dir / "models.yaml", [{"name": "tiny", "source": str(model)}])
        self.results = self.dir / "results"

    def outside(self) -> dict[str, tuple[int, float]]:
        return {str(p.relative_to(self.dir)): (p.stat().st_size, p.stat().st_mtime)
                for p in self.dir.rglob("*") if p.is_file() and self.results not in p.parents}

    def run_args(self, *extra: str, results: Path | None = None) -> list[str]:
        return ["--tasks-dir", str(self.tasks), "--models-file", str(self.models), "run", "--tasks", TASK,
                "--models", "tiny", "--seed-list", "0,1", "--data-dir", str(self.data),
                "--results", str(results or self.results), "--precision", "fp32", "--set", "max_epochs=1", *extra]


def harness(args: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def records_of(results: Path) -> dict[str, dict]:
    from harness.records.store import iter_record_paths, read_record

    if not results.is_dir():
        return {}
    return {str(p.relative_to(results)): read_record(p) for p in iter_record_paths(results)}


def check_kept(before: dict[str, dict], results: Path) -> str:
    """'' when every record of `before` is still there and readable (itself or a complete newer one)."""
    try:
        now = records_of(results)
    except Exception as exc:  # noqa: BLE001 - a record a reader refuses is a lost record
        return f"a record cannot be read: {exc}"
    lost = [k for k, r in before.items() if k not in now or (r.status == "completed" and now[k].status != "completed")]
    return f"lost {lost}" if lost else ""


def check_exit(proc: subprocess.CompletedProcess, allowed=(0, 1, 2)) -> str:
    if proc.returncode in allowed and "Traceback" not in proc.stderr:
        return ""
    return f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:200]}"


# --------------------------------------------------------------------------- scenarios
def kill_scenarios(work: Work, rng: random.Random, kills: int) -> list[tuple[str, str]]:
    """kill -9 `run` (with --force over finished records), `report` and `leaderboard` at random moments."""
    out = []
    first = harness(work.run_args("--no-plots"))
    out.append(("run to completion (baseline for the kills)", check_exit(first, (0,))))
    for i in range(kills):
        for command in ("run", "report", "leaderboard"):
            before, outside = records_of(work.results), work.outside()
            args = {"run": work.run_args("--force"), "report": ["report", str(work.results)],
                    "leaderboard": ["leaderboard", str(work.results), "--format", "html"]}[command]
            proc = subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
            delay = rng.uniform(0.5, {"run": 25.0, "report": 12.0, "leaderboard": 8.0}[command])
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            problem = check_kept(before, work.results) or ("" if work.outside() == outside else "wrote outside results")
            board = work.results / "LEADERBOARD.json"
            if not problem and board.exists():
                try:
                    json.loads(board.read_text())
                except ValueError:
                    problem = "LEADERBOARD.json is half written"
            out.append((f"kill -9 {command} after {delay:.1f}s (#{i + 1})", problem))
    rerun = harness(work.run_args("--no-plots"))
    done = records_of(work.results)
    complete = len([r for r in done.values() if r.status == "completed"]) == 2
    out.append(("rerun after the kills finishes every cell", check_exit(rerun, (0,)) or ("" if complete else f"{done}")))
    return out


def _tampered_records(rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    good = make_record(TASK, "tiny", 1, [0, 1] * 6, [0, 1] * 5 + [1, 1], LABELS, config_hash="abc123")
    edits = [
        ("task climbs out", lambda r: r.update(task="../../../../tmp/chaos-escape")),
        ("model climbs out", lambda r: r.update(model="../../x")),
        ("config_hash with /", lambda r: r.update(config_hash="../../../moved")),
        ("accuracy 5.0", lambda r: r["metrics"]["test"].update(accuracy=5.0)),
        ("negative seed", lambda r: r.update(seed=-3)),
        ("completed without metrics", lambda r: r.pop("metrics")),
        ("negative label id", lambda r: r["references"].update(test=[-1] * 12)),
        ("label with newline", lambda r: r.update(labels=["neg\nx", "positive"])),
        ("label not NFC", lambda r: r.update(labels=["cafe\u0301", "positive"])),
        ("html in label", lambda r: r.update(labels=["<script>alert(1)</script>", "a|b"])),
        ("huge int", lambda r: r.update(seed=10**40)),
        ("wrong type", lambda r: r.update(metrics="all good")),
        ("another schema", lambda r: r.update(schema_version=99)),
    ]
    out = []
    for name, edit in edits:
        record = json.loads(json.dumps(good))
        edit(record)
        out.append((name, json.dumps(record).encode()))
    raw = json.dumps(good).encode()
    out += [("empty", b""), ("NaN", raw.replace(b'"n": 12', b'"n": NaN')), ("not UTF-8", b"\xff" + raw),
            ("deeply nested", b"[" * 100_000 + b"]" * 100_000)]
    while len(out) < n:
        data = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.choice([len(data), rng.randrange(len(data))])
        out.append((f"random bytes #{len(out)}", bytes(data[:cut])))
    return out


def tamper_scenarios(work: Work, rng: random.Random, n: int) -> list[tuple[str, str]]:
    """A tampered record beside a good one: leaderboard, report, compare and baseline export exit
    0 or 2, never a traceback, and write nothing outside the results folder."""
    from harness.cli.main import main

    base = make_record(TASK, "tiny", 0, [0, 1] * 6, [0, 1] * 6, LABELS, config_hash="abc000")
    out = []
    for name, data in _tampered_records(rng, n):
        shutil.rmtree(work.results, ignore_errors=True)
        write_results(work.results, [base])
        target = work.results / TASK / "tiny" / "seed-1.json"
        target.write_bytes(data)
        outside, escape = work.outside(), Path("/tmp/chaos-escape")
        problem = ""
        for args in (["leaderboard", str(work.results)], ["report", str(work.results)],
                     ["compare", str(work.results), "--baseline", str(work.results)],
                     ["baseline", "export", str(work.results), "--output", str(work.results / "b.json")]):
            try:
                with contextlib.redirect_stdout(open(os.devnull, "w")), contextlib.redirect_stderr(open(os.devnull, "w")):
                    code = main(args)
            except SystemExit as exc:
                code = exc.code
            except Exception as exc:  # noqa: BLE001 - exactly what must not happen
                code = f"{type(exc).__name__}: {exc}"[:200]
            if code not in (0, 1, 2):
                problem = f"{args[0]}: {code}"
                break
        if not problem and (work.outside() != outside or escape.exists()):
            problem = "wrote outside results"
        out.append((f"tampered record: {name}", problem))
    return out


def claim_scenarios(work: Work) -> list[tuple[str, str]]:
    """A broken claim (empty, garbage, folder, FIFO) never blocks a cell: the run trains it."""
    out = []
    for kind in ("empty", "garbage", "folder", "fifo"):
        shutil.rmtree(work.results, ignore_errors=True)
        claim = work.results / TASK / "tiny" / "seed-0.claim"
        claim.parent.mkdir(parents=True)
        {"empty": lambda: claim.write_bytes(b""), "garbage": lambda: claim.write_bytes(b"\x00\xffjunk"),
         "folder": claim.mkdir, "fifo": lambda: os.mkfifo(claim)}[kind]()
        proc = harness(work.run_args("--no-plots", "--no-leaderboard", "--seed-list", "0"))
        done = records_of(work.results)
        trained = any(r.status == "completed" for r in done.values())
        out.append((f"{kind} claim", check_exit(proc, (0,)) or ("" if trained else "the cell was not trained")))
    return out


@contextlib.contextmanager
def mounted(folder: Path, options: str, bind: Path | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    if bind is None:
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    else:
        command = ["mount", "--bind", str(bind), str(folder)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        yield False
        return
    try:
        if bind is not None and subprocess.run(["mount", "-o", f"remount,bind,{options}", str(folder)],
                                               capture_output=True).returncode != 0:
            yield False
            return
        yield True
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())


def disk_scenarios(work: Work) -> list[tuple[str, str]]:
    """A results folder on a 2 MB tmpfs, then filled: a --force rerun, the leaderboard and a report
    fail with one line and lose nothing; a read-only bind mount of it is refused the same way."""
    out = []
    disk = work.dir / "small-disk"
    with mounted(disk, "size=2m") as ok:
        if not ok:
            print("chaos: cannot mount a tmpfs (not root, or no mount permission): full-disk scenarios skipped")
            return [("full disk (skipped: mount not permitted)", "")]
        results = disk / "results"
        run = harness(work.run_args("--no-plots", results=results))
        out.append(("a run on a 2 MB disk", check_exit(run, (0, 2))))
        with contextlib.suppress(Exception):
            harness(["leaderboard", str(results), "--format", "md"])
        before, board = records_of(results), {p.name: p.read_bytes() for p in results.glob("LEADERBOARD.*")}
        fill(disk)
        if not before:
            out.append(("full disk: records to protect", "the run on the small disk wrote none"))
        for name, args in (("run --force", work.run_args("--no-plots", "--force", results=results)),
                           ("leaderboard files", work.run_args("--no-plots", "--seed-list", "0", results=results)),
                           ("report", ["report", str(results)])):
            proc = harness(args)
            problem = check_exit(proc) or check_kept(before, results)
            now = {p.name: p.read_bytes() for p in results.glob("LEADERBOARD.*")}
            if not problem and now != board:
                problem = "leaderboard files changed on a full disk (a mix?)"
            leftovers = [p.name for p in results.rglob(".*.tmp")] + [p.name for p in results.rglob("*.claim")]
            out.append((f"full disk ({len(before)} records kept): {name}", problem or (f"left {leftovers}" if leftovers else "")))
        (disk / "filler").unlink()
        readonly = work.dir / "readonly"
        with mounted(readonly, "ro", bind=results) as ro:
            if not ro:
                out.append(("read-only results (skipped: bind mount not permitted)", ""))
            else:
                for name, args in (("run", work.run_args("--no-plots", "--force", results=readonly)),
                                   ("report", ["report", str(readonly)]),
                                   ("leaderboard --output", ["leaderboard", str(readonly), "--output", str(readonly / "x.md")])):
                    proc = harness(args)
                    out.append((f"read-only results: {name}", check_exit(proc, (2,)) or check_kept(before, results)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=4, help="kill -9 rounds (each: run, report, leaderboard)")
    parser.add_argument("--tampers", type=int, default=40, help="tampered records")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="harness-chaos-"))
    os.environ.setdefault("HARNESS_CACHE", str(base / "cache"))
    started = time.monotonic()
    try:
        model = tiny_bert(base / "tiny-bert")
        outcomes: list[tuple[str, str]] = []
        for group in (lambda: tamper_scenarios(Work(base, model), rng, args.tampers),
                      lambda: claim_scenarios(Work(base, model)),
                      lambda: disk_scenarios(Work(base, model)),
                      lambda: kill_scenarios(Work(base, model), rng, args.kills)):
            for name, problem in group():
                outcomes.append((name, problem))
                print(f"{'ok  ' if not problem else 'FAIL'} {name}" + (f": {problem}" if problem else ""), flush=True)
        failed = [o for o in outcomes if o[1]]
        print(f"\nchaos: {len(outcomes)} scenarios: {len(outcomes) - len(failed)} passed, {len(failed)} failed; "
              f"{'nothing lost, nothing written outside the results folder' if not failed else 'see FAIL lines'} "
              f"({time.monotonic() - started:.0f} s)")
        return 1 if failed else 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
