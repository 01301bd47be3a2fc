"""Issue 26: what the harness reads from disk is untrusted, claims cannot poison a cell, nothing
finished is lost to a failed write, every number from a user is checked. One test per class,
each on a sample of the class made here; each fails on the code before the fix."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import harness_args
from helpers import make_record, one_line_error, snapshot as tree, typed, write_results

from harness.cli.main import main
from harness.errors import HarnessError
from harness.records.store import read_record, record_path, write_record

LABELS = ["negative", "positive"]


def good(task="toy", model="m", seed=0, **extra):
    return make_record(task, model, seed, [0, 1] * 10, [0, 1] * 9 + [1, 1], LABELS, **extra)


def results_with_raw(tmp_path: Path, record: dict, where=("toy", "m", 0)) -> Path:
    """A results folder with one good record and `record` written raw (unvalidated) at `where`."""
    root = write_results(tmp_path / "results", [good(seed=1)])
    path = record_path(root, *where)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return root


class FullDisk:
    """fsync fails with ENOSPC from the n-th call on (a full disk seen by the atomic writers)."""

    def __init__(self, monkeypatch, after: int = 0):
        self.calls, self.after = 0, after
        real = os.fsync

        def fsync(fd):
            self.calls += 1
            if self.calls > self.after:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd)

        monkeypatch.setattr("harness.files.os.fsync", fsync)


# --------------------------------------------------------------------------- 1. records are untrusted
def test_a_record_whose_task_climbs_out_of_the_results_folder_writes_nothing(tmp_path, capsys):
    outside = tmp_path / "outside"
    root = results_with_raw(tmp_path, good(task="../../../../" + str(outside)))
    before = tree(tmp_path)
    assert main(["report", str(root)]) == 2
    assert "task" in one_line_error(capsys)
    assert tree(tmp_path) == before and not outside.exists()


def test_a_config_hash_with_a_slash_never_moves_a_record_out_of_its_cell(tmp_path):
    root = write_results(tmp_path / "results", [good()])
    path = record_path(root, "toy", "m", 0)
    forged = {**json.loads(path.read_text()), "config_hash": "../../../../escaped"}
    path.write_text(json.dumps(forged))
    with pytest.raises(HarnessError, match="config_hash"):
        read_record(path)
    write_record(path, typed(good(config_hash="hash-new")))  # a rerun replaces it
    assert json.loads(path.read_text())["config_hash"] == "hash-new"
    kept = list((path.parent / "superseded").iterdir())
    assert len(kept) == 1 and "escaped" not in kept[0].name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


@pytest.mark.parametrize("change, message", [
    (lambda r: r["metrics"]["test"].update(accuracy=5.0), "accuracy 5.0 is outside [0, 1]"),
    (lambda r: r["metrics"]["validation"].update(macro_f1=-0.1), "macro_f1 -0.1 is outside"),
    (lambda r: r.pop("metrics"), "a completed record needs metrics"),
    (lambda r: r.update(seed=-1), "seed"),
    (lambda r: r["references"].update(test=[-1] + r["references"]["test"][1:]), "label id -1"),
    (lambda r: r["predictions"].update(test=[2] + r["predictions"]["test"][1:]), "label id 2"),
    (lambda r: r.update(labels=["neg\native", "positive"]), "newline"),
    (lambda r: r.update(model="a/b"), "model"),
])
def test_a_record_out_of_bounds_is_refused_with_one_line(tmp_path, change, message):
    record = good()
    change(record)
    path = tmp_path / "toy" / "m" / f"seed-{record.get('seed', 0)}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    with pytest.raises(HarnessError) as info:
        read_record(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError):  # never built either (pydantic's ValidationError: a bug, not user input)
        write_record(tmp_path / "w" / "seed-0.json", typed(record))
    assert not (tmp_path / "w").exists() or not list((tmp_path / "w").iterdir())


def test_a_record_copied_into_another_folder_is_not_counted_as_more_seeds(tmp_path, capsys):
    root = write_results(tmp_path / "results", [good(seed=0), good(seed=1)])
    copy = root / "toy-copy" / "m" / "seed-0.json"
    copy.parent.mkdir(parents=True)
    shutil.copy(record_path(root, "toy", "m", 0), copy)
    assert main(["leaderboard", str(root)]) == 2
    assert str(copy) in one_line_error(capsys)


def test_names_and_labels_are_escaped_in_markdown_html_and_the_report(tmp_path):
    from harness.views.leaderboard import write_leaderboard_files
    from harness.views.report import write_report
    from harness.views.text import md_code, md_escape

    labels = ["a|b <script>alert(1)</script>", "**bold** [x](http://e.org)"]
    records = [make_record("toy", "m", s, [0, 1] * 10, [1, 0] + [0, 1] * 9, labels) for s in (0, 1)]
    root = write_results(tmp_path / "results", records)
    write_leaderboard_files(root)
    report = write_report(root).read_text()
    assert re.search(r"(?<!\\)<script", report) is None and "\\<script>" in report and "a\\|b" in report
    assert "\\*\\*bold\\*\\* \\[x\\](http" in report  # neither bold nor a link
    assert "<script>alert" not in (root / "LEADERBOARD.html").read_text()
    for line in report.splitlines():  # every table row keeps its column count
        if line.startswith("| true"):
            assert line.count(" | ") == 3
    assert md_escape("x\n# title") == "x # title" and md_escape("# title") == "\\# title"
    assert md_escape("[0.12, 0.34], p < 0.001") == "[0.12, 0.34], p < 0.001"  # our own intervals stay readable
    assert md_code("a`b") == "``a`b``"


def test_label_names_are_nfc_normalised_and_newlines_refused():
    from pydantic import ValidationError

    from harness.spec.task import TaskSpec

    base = {"name": "t", "language": "fr", "description": "Toy.", "text": "sentence", "label": "label", "reader": "jsonl",
            "splits": {"train": {}, "validation": {}, "test": {}}}
    spec = TaskSpec.model_validate({**base, "labels": ["caf\u0065\u0301", "th\u00e9"]})
    assert spec.labels == ["caf\u00e9", "th\u00e9"]
    with pytest.raises(ValidationError, match="newline"):
        TaskSpec.model_validate({**base, "labels": ["one\ntwo", "three"]})
    with pytest.raises(ValidationError, match="duplicate"):  # the same name typed two ways is one label
        TaskSpec.model_validate({**base, "labels": ["caf\u0065\u0301", "caf\u00e9"]})


def test_a_folder_that_cannot_be_listed_is_an_error_not_skipped(tmp_path, monkeypatch, capsys):
    root = write_results(tmp_path / "results", [good(seed=0), good(model="hidden", seed=0)])
    locked = root / "toy" / "hidden"
    real = os.scandir

    def scandir(path):  # root reads every folder: inject the EACCES a normal user gets
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr("harness.files.os.scandir", scandir)
    assert main(["leaderboard", str(root)]) == 2
    assert str(locked) in one_line_error(capsys)


def test_a_fifo_in_a_records_place_is_refused_not_waited_on(tmp_path, capsys):
    root = write_results(tmp_path / "results", [good()])
    os.mkfifo(record_path(root, "toy", "m", 1))
    previous = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("blocked on the FIFO"))
    signal.alarm(20)
    try:
        assert main(["leaderboard", str(root)]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "not a regular file" in one_line_error(capsys)


# --------------------------------------------------------------------------- 2. claims
def _broken_claim(path: Path, kind: str) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\xff\xfe not json")
    elif kind == "no-token":
        path.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)


@pytest.mark.parametrize("kind", ["empty", "garbage", "no-token", "folder", "fifo"])
def test_a_broken_claim_is_not_a_live_run_and_is_taken_over(tmp_path, kind):
    from harness.records.claims import claim_path, live_claim, try_claim

    record = tmp_path / "toy" / "m" / "seed-0.json"
    record.parent.mkdir(parents=True)
    _broken_claim(claim_path(record), kind)
    assert live_claim(record) is None
    claim, owner = try_claim(record)
    assert owner is None and claim is not None and "broken" in claim.took_over
    claim.release()
    assert not os.path.lexists(claim_path(record))


def test_an_empty_claim_left_by_a_full_disk_does_not_skip_the_cell(toy_env, capsys):
    results = toy_env["results"]
    cell = record_path(results, toy_env["task"], "tiny", 0)
    cell.parent.mkdir(parents=True)
    cell.with_suffix(".claim").write_bytes(b"")
    args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--seed-list", "0",
                        "--data-dir", str(toy_env["data"]), "--results", str(results), "--no-plots",
                        "--no-leaderboard", "--precision", "fp32", "--set", "max_epochs=1")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 cell(s) trained, 0 skipped" in out and read_record(cell).status == "completed"


def test_a_claim_whose_write_fails_leaves_no_claim(tmp_path, monkeypatch):
    from harness.records.claims import claim_path, try_claim

    record = tmp_path / "toy" / "m" / "seed-0.json"
    FullDisk(monkeypatch)
    with pytest.raises(HarnessError, match="No space|cannot write"):
        try_claim(record)
    assert list(record.parent.iterdir()) == []  # no claim, no temp file
    assert not claim_path(record).exists()


@pytest.mark.parametrize("variable, value", [
    ("HARNESS_CLAIM_STALE_S", "ten"), ("HARNESS_CLAIM_STALE_S", "nan"), ("HARNESS_CLAIM_STALE_S", "-5"),
    ("HARNESS_CLAIM_HEARTBEAT_S", "inf"), ("HARNESS_CLAIM_STALE_S", "10"),  # 10 <= the 30 s heartbeat
    ("HARNESS_CPU_KEEP_HEAP", "yes"), ("HARNESS_RAY_CONNECT_TIMEOUT_S", "0"),
])
def test_every_environment_knob_is_validated_with_one_line(toy_env, monkeypatch, capsys, variable, value):
    monkeypatch.setenv(variable, value)
    args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--data-dir",
                        str(toy_env["data"]), "--results", str(toy_env["results"]), "--dry-run")
    assert main(args) == 2
    assert variable in one_line_error(capsys)


# --------------------------------------------------------------------------- 3. nothing finished lost
def test_the_current_record_stays_until_its_replacement_is_on_disk(tmp_path, monkeypatch):
    root = write_results(tmp_path / "results", [good()])
    path = record_path(root, "toy", "m", 0)
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        FullDisk(patch)
        with pytest.raises(HarnessError, match="No space"):
            write_record(path, typed(good(config_hash="hash-new")))
    assert path.read_bytes() == before and not (path.parent / "superseded").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["seed-0.json"]  # no temp left
    write_record(path, typed(good(config_hash="hash-new")))
    assert json.loads(path.read_text())["config_hash"] == "hash-new"
    assert (path.parent / "superseded" / "seed-0.hash-toy-m-0.json").read_bytes() == before


def test_a_saved_model_folder_is_written_whole_with_the_umask(tmp_path):
    from harness.files import atomic_dir

    target = tmp_path / "model-seed-0"
    with pytest.raises(OSError):
        with atomic_dir(target) as tmp:
            (tmp / "config.json").write_text("{}")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []  # no half-written folder, no temp
    old = os.umask(0o022)
    try:
        with atomic_dir(target) as tmp:
            (tmp / "config.json").write_text("{}")
    finally:
        os.umask(old)
    assert (target / "config.json").exists() and stat.S_IMODE(target.stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["model-seed-0"]


def test_saved_weights_get_the_umask_not_0600(toy_env):
    old = os.umask(0o022)
    try:
        args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--seed-list", "0",
                            "--data-dir", str(toy_env["data"]), "--results", str(toy_env["results"]), "--no-plots",
                            "--no-leaderboard", "--precision", "fp32", "--set", "max_epochs=1", "--save-model")
        assert main(args) == 0
    finally:
        os.umask(old)
    folder = record_path(toy_env["results"], toy_env["task"], "tiny", 0).parent / "model-seed-0"
    assert stat.S_IMODE((folder / "model.safetensors").stat().st_mode) == 0o644
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".model-seed-0")]


def test_leaderboard_files_are_replaced_as_a_set(tmp_path, monkeypatch):
    from harness.views.leaderboard import write_leaderboard_files

    root = write_results(tmp_path / "results", [good(seed=0)])
    write_leaderboard_files(root)
    before = tree(root)
    write_results(root, [good(seed=1)])
    with monkeypatch.context() as patch:
        FullDisk(patch, after=2)  # the third of four files fails
        with pytest.raises(HarnessError, match="No space"):
            write_leaderboard_files(root)
    now = tree(root)
    assert {k: v for k, v in now.items() if k.startswith("LEADERBOARD")} == \
        {k: v for k, v in before.items() if k.startswith("LEADERBOARD")}
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- 4. numbers from a user
@pytest.mark.parametrize("extra", [["--max-drop", "nan"], ["--max-drop", "inf"], ["--resamples", "100000000"],
                                   ["--alpha", "nan"]])
def test_compare_numbers_are_checked(tmp_path, extra, capsys):
    root = write_results(tmp_path / "results", [good()])
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(root), "--baseline", str(root), *extra])
    assert exit_.value.code == 2 and extra[0] in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [({"max_drop": float("nan")}, "--max-drop"),
                                             ({"resamples": 10**8}, "--resamples"),
                                             ({"alpha": float("inf")}, "--alpha")])
def test_compare_api_numbers_are_checked(tmp_path, kwargs, message):
    from harness.views.compare import compare

    root = write_results(tmp_path / "results", [good()])
    with pytest.raises(HarnessError, match=message):
        compare(root, root, **kwargs)


@pytest.mark.parametrize("extra, message", [
    (["--set", "learning_rate=[1"], "--set"),
    (["--search", "learning_rate=1e-3,{"], "--search"),
    (["--executor", "ray", "--gpus-per-cell", "nan"], "--gpus-per-cell"),
])
def test_run_values_are_parsed_inside_the_error_handling(toy_env, capsys, extra, message):
    args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--data-dir",
                        str(toy_env["data"]), "--results", str(toy_env["results"]), "--dry-run", *extra)
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("extra, message", [
    (["--search", "optim=adamw_torch,adamw_magic"], "unknown optim 'adamw_magic'"),
    (["--search", "max_epochs=1,.inf"], "max_epochs"),
    (["--set", "weight_decay=.nan"], "weight_decay"),
])
def test_a_search_value_gets_the_checks_of_set(toy_env, capsys, extra, message):
    args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--data-dir",
                        str(toy_env["data"]), "--results", str(toy_env["results"]), "--dry-run", *extra)
    assert main(args) == 2
    assert message in one_line_error(capsys)


def test_gpus_per_cell_nan_through_the_api_is_refused(toy_env):
    import harness

    with pytest.raises(HarnessError, match="--gpus-per-cell"):
        harness.plan(tasks=[toy_env["task"]], models=["tiny"], data_dir=str(toy_env["data"]),
                     results=toy_env["results"], tasks_dir=[str(toy_env["tasks"])], models_file=str(toy_env["models"]),
                     executor="ray", gpus_per_cell=float("nan"))


# --------------------------------------------------------------------------- 5. connections, environments
def test_a_ray_address_that_does_not_answer_times_out_with_one_line():
    import socket

    from harness.execution.ray_executor import check_reachable

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()  # nobody listens there now
    started = time.monotonic()
    for address in (f"127.0.0.1:{port}", "192.0.2.1:6379"):  # refused; TEST-NET, never answers
        with pytest.raises(HarnessError, match="HARNESS_RAY_CONNECT_TIMEOUT_S") as info:
            check_reachable(address, 0.5)
        assert "\n" not in str(info.value)
    assert time.monotonic() - started < 5


def test_an_unwritable_cache_names_the_variable_to_change(toy_env, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HF_HOME", str(blocker / "hf"))
    args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--data-dir",
                        str(toy_env["data"]), "--results", str(toy_env["results"]), "--dry-run")
    assert main(args) == 2
    assert "set HF_HOME to a writable folder" in one_line_error(capsys)


# --------------------------------------------------------------------------- 6. predict
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from helpers import tiny_bert
    from test_predict import _save_classifier

    root = tmp_path_factory.mktemp("predict-refusals")
    return _save_classifier(tiny_bert(root / "encoder"), root / "single", LABELS,
                            {"task": "toy-sentiment", "text_columns": ["sentence"], "model": "tiny"})


def _copy_without(folder: Path, target: Path, *names: str) -> Path:
    shutil.copytree(folder, target)
    for name in names:
        (target / name).unlink(missing_ok=True)
    return target


def test_predict_refuses_a_folder_without_tokenizer_files(saved_model, tmp_path, capsys):
    folder = _copy_without(saved_model, tmp_path / "m", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                           "special_tokens_map.json")
    assert main(["predict", str(folder), "a calm evening by the sea"]) == 2
    assert "no tokenizer files" in one_line_error(capsys)


def test_predict_refuses_a_corrupt_safetensors_file(saved_model, tmp_path, capsys):
    folder = _copy_without(saved_model, tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated by a full disk
    assert main(["predict", str(folder), "a calm evening by the sea"]) == 2
    assert str(weights) in one_line_error(capsys)


def test_predict_reports_an_empty_text_as_empty(saved_model, tmp_path, capsys):
    assert main(["predict", str(saved_model), "   "]) == 2
    assert "empty" in one_line_error(capsys)
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"sentence": "fine"}) + "\n" + json.dumps({"sentence": ""}) + "\n")
    assert main(["predict", str(saved_model), "--input", str(rows)]) == 2
    line = one_line_error(capsys)
    assert "line 2" in line and "'sentence' is empty" in line


# --------------------------------------------------------------------------- 7. failed cells say why
def test_a_failed_cell_keeps_one_line_naming_the_file_or_setting():
    from harness.execution.record import failure_line

    final = SimpleNamespace(config={"recipe": {"batch_size": 64, "max_length": 256}}, kind="final", seed=0)
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/train.jsonl")
    assert failure_line(missing, final) == "FileNotFoundError: /data/train.jsonl: No such file or directory"
    class OutOfMemoryError(RuntimeError):  # torch.OutOfMemoryError's name and multi-line advice
        pass

    torch_like = OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB.\nIf reserved but unallocated ...\nSee docs")
    line = failure_line(torch_like, final)
    assert "\n" not in line and "batch_size=64" in line and "--set" in line
    trial = SimpleNamespace(config={"recipe": {"learning_rate": 0.002}, "searched": ["learning_rate"]}, kind="trial", seed=1)
    assert failure_line(ValueError("bad\nmore"), trial) == "search trial learning_rate=0.002 (seed 1): ValueError: bad"


def test_json_nested_past_the_recursion_limit_is_one_line(tmp_path):
    path = tmp_path / "toy" / "m" / "seed-0.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(HarnessError, match="nested too deeply"):
        read_record(path)
