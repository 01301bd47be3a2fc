"""Bad inputs, made in each test: every one is exit 2 with one line naming the file (and line)
and what to do, and nothing is written or lost. One test per class of failure (issue 15)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from conftest import harness_args
from helpers import make_record, one_line_error, snapshot, write_results, typed

from harness.cli.main import main
from harness.errors import HarnessError
from harness.records.store import read_record, record_path, set_aside, write_record

LABELS = ["negative", "positive"]


def results_with(tmp_path: Path, bad: bytes) -> Path:
    """A results folder with one good record and one bad file in a record's place."""
    root = write_results(tmp_path / "results", [make_record("toy", "m", 0, [0, 1] * 10, [0, 1] * 10, LABELS)])
    path = record_path(root, "toy", "m", 1)
    path.write_bytes(bad)
    return root


# --------------------------------------------------------------------------- spec files
def test_task_and_models_yaml_not_utf8(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    text = "family: avis\ntasks:\n  - name: avis\n    description: Critiques de cafés\n"
    (tasks / "avis.yaml").write_bytes(text.encode("latin-1"))
    before = snapshot(tmp_path)
    assert main(["--tasks-dir", str(tasks), "tasks"]) == 2
    line = one_line_error(capsys)
    assert "avis.yaml, line 4: not UTF-8 text (byte b'\\xe9'); save the file as UTF-8" in line
    models = tmp_path / "models.yaml"
    models.write_bytes("models:\n  - name: modèle\n    source: x\n".encode("latin-1"))
    assert main(["--models-file", str(models), "models"]) == 2
    assert "models.yaml, line 2: not UTF-8 text" in one_line_error(capsys)
    assert snapshot(tmp_path) == {**before, "models.yaml": models.read_bytes()}


def test_models_file_that_is_a_folder(tmp_path, capsys):
    folder = tmp_path / "models.yaml"
    folder.mkdir()
    assert main(["--models-file", str(folder), "models"]) == 2
    assert f"{folder}: is a folder, not a file; give a file path" in one_line_error(capsys)


def test_duplicate_yaml_keys(tmp_path, capsys):
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  - name: tiny\n    source: /models/a\n    name: other\n")
    assert main(["--models-file", str(models), "models"]) == 2
    line = one_line_error(capsys)
    assert "models.yaml, line 4: key 'name' is written twice in one mapping (first on line 2); keep one" in line
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "t.yaml").write_text("family: t\nfamily: u\ntasks: []\n")
    assert main(["--tasks-dir", str(tasks), "tasks"]) == 2
    assert "t.yaml, line 2: key 'family' is written twice" in one_line_error(capsys)
    # merge keys may still be overridden, as YAML intends
    from harness.files import read_yaml

    merged = tmp_path / "merge.yaml"
    merged.write_text("base: &b {a: 1, b: 2}\nother:\n  <<: *b\n  b: 3\n")
    assert read_yaml(merged)["other"] == {"a": 1, "b": 3}


# --------------------------------------------------------------------------- records
@pytest.mark.parametrize("bad, message", [
    (bytes(range(256)) * 4, "not UTF-8 text"),
    (b'{"schema_version": 1, "metrics": {"test": {"accuracy": NaN}}}', "line 1: holds a non-finite number (NaN)"),
    (b'{\n "schema_version": 1,\n "accuracy": 1e999\n}', "line 3: holds a non-finite number (1e999)"),
])
@pytest.mark.parametrize("command", ["leaderboard", "report", "compare"])
def test_unreadable_record_in_views(tmp_path, capsys, bad, message, command):
    root = results_with(tmp_path, bad)
    before = snapshot(tmp_path)
    argv = {"leaderboard": ["leaderboard", str(root), "--output", str(tmp_path / "board.md")],
            "report": ["report", str(root)],
            "compare": ["compare", str(root), "--baseline", str(root)]}[command]
    assert main(argv) == 2
    line = one_line_error(capsys)
    assert str(record_path(root, "toy", "m", 1)) in line and message in line
    assert "harness run ... --force" in line  # what to do
    assert snapshot(tmp_path) == before  # no LEADERBOARD, no REPORT, the bad file kept


def test_baseline_with_a_non_finite_number(tmp_path, capsys):
    root = write_results(tmp_path / "results", [make_record("toy", "m", 0, [0, 1] * 10, [0, 1] * 10, LABELS)])
    baseline = tmp_path / "base.json"
    assert main(["baseline", "export", str(root), "--output", str(baseline)]) == 0
    capsys.readouterr()
    text = baseline.read_text()
    baseline.write_text(text.replace('"accuracy": 1.0', '"accuracy": NaN', 1))
    assert '"accuracy": NaN' in baseline.read_text()
    before = snapshot(tmp_path)
    assert main(["compare", str(root), "--baseline", str(baseline), "--output", str(tmp_path / "report.md")]) == 2
    assert "base.json, line" in (line := one_line_error(capsys)) and "non-finite number (NaN)" in line
    assert snapshot(tmp_path) == before


def test_a_version_1_record_is_read_as_version_2_and_written_back_unchanged_but_for_the_version(tmp_path):
    """Results folders written before the typed record still load; what the harness writes is
    the same JSON, key for key, under schema_version 2."""
    old = make_record("toy", "m", 0, [0, 1, 1, 0] * 5, [0, 1, 0, 0] * 5, LABELS)
    old["schema_version"] = 1
    path = record_path(tmp_path, "toy", "m", 0)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old, indent=1))
    record = read_record(path)
    assert record.schema_version == 2 and record.completed and record.test.accuracy == 0.75
    assert record.provenance.data_fingerprint == "fp-test" and record.training.history[1].step == 20
    again = tmp_path / "again.json"
    write_record(again, record)
    assert json.loads(again.read_text()) == {**old, "schema_version": 2}
    # byte for byte: every key in its place, at every level (declared fields do not move first)
    assert again.read_text() == json.dumps({**old, "schema_version": 2}, indent=1, ensure_ascii=False) + "\n"


def test_a_record_of_an_unknown_schema_version_is_refused(tmp_path):
    future = make_record("toy", "m", 0, [0, 1], [0, 1], LABELS)
    future["schema_version"] = 3
    path = tmp_path / "seed-0.json"
    path.write_text(json.dumps(future))
    with pytest.raises(HarnessError, match=r"seed-0.json: result schema_version 3 is not supported .*reads 1, 2"):
        read_record(path)


def test_set_aside_keeps_the_unreadable_record(tmp_path):
    root = results_with(tmp_path, b"\x00\x01 not json")
    bad = record_path(root, "toy", "m", 1)
    with pytest.raises(HarnessError):
        read_record(bad)
    kept = set_aside(bad)
    assert not bad.exists() and kept.parent == bad.parent and kept.name.startswith("seed-1.json.unreadable-")
    assert kept.read_bytes() == b"\x00\x01 not json"
    bad.write_bytes(b"again")
    assert set_aside(bad) != kept  # a second one in the same second gets its own name
    from harness.records.store import load_records

    assert [r.seed for r in load_records(root)] == [0]  # set-aside files are no longer records


# --------------------------------------------------------------------------- outputs
def test_unwritable_output(tmp_path, capsys):
    root = write_results(tmp_path / "results", [make_record("toy", "m", 0, [0, 1] * 10, [0, 1] * 10, LABELS)])
    folder = tmp_path / "board.md"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file, so nothing can be created under it, not even by root")
    before = snapshot(tmp_path)
    assert main(["leaderboard", str(root), "--output", str(folder)]) == 2
    assert f"--output {folder} is a folder" in one_line_error(capsys)
    assert main(["leaderboard", str(root), "--output", str(blocker / "sub" / "board.md")]) == 2
    assert f"{blocker} is a file, not a folder; choose another path" in one_line_error(capsys)
    model = tmp_path / "no-model"  # --output is checked before the model folder is even opened
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "fine"}\n')
    before[source.name] = source.read_bytes()
    assert main(["predict", str(model), "--input", str(source), "--output", str(folder)]) == 2
    assert "is a folder" in one_line_error(capsys)
    assert main(["predict", str(model), "--input", str(source), "--output", str(blocker / "out.csv")]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)
    assert snapshot(tmp_path) == before
    # the writer itself (for callers that skip the preflight): one error, no temp file left
    from harness.files import atomic_write_text

    with pytest.raises(HarnessError, match="a part of the path is a file, not a folder"):
        atomic_write_text(blocker / "x" / "y.json", "{}")
    with pytest.raises(HarnessError, match="it is a folder"):
        atomic_write_text(folder, "{}")
    assert snapshot(tmp_path) == before


def test_files_follow_the_umask(tmp_path):
    from harness.files import atomic_write_bytes
    from harness.views.leaderboard import write_leaderboard_files

    old = os.umask(0o022)
    try:
        root = write_results(tmp_path / "results", [make_record("toy", "m", 0, [0, 1] * 10, [0, 1] * 10, LABELS)])
        board = write_leaderboard_files(root)
        atomic_write_bytes(tmp_path / "plot.png", b"\x89PNG")
        assert main(["baseline", "export", str(root), "--output", str(tmp_path / "base.json")]) == 0
        written = [record_path(root, "toy", "m", 0), board, board.with_suffix(".csv"), tmp_path / "plot.png",
                   tmp_path / "base.json"]
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {p.name: "0o644" for p in written}
        os.umask(0o077)
        write_record(record_path(root, "toy", "m", 1), typed(make_record("toy", "m", 1, [0, 1], [0, 1], LABELS)))
        assert stat.S_IMODE(record_path(root, "toy", "m", 1).stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.rglob("*.tmp")]


# --------------------------------------------------------------------------- data
def empty_text_task(tmp_path: Path, drop_empty: bool | None) -> tuple[Path, Path]:
    data, tasks = tmp_path / "data", tmp_path / "tasks"
    (data / "reviews").mkdir(parents=True)
    rows = ["the soup was warm and tasty,positive", "the film was long and painful,negative"]
    for split, extra in (("train", ['"   ",positive']), ("validation", []), ("test", [",negative"])):
        lines = ["text,label"] + rows * 3 + extra + rows
        (data / "reviews" / f"{split}.csv").write_text("\n".join(lines) + "\n")
    spec = {"name": "reviews", "language": "en", "description": "Short reviews written for the tests.",
            "text": "text", "label": "label", "labels": LABELS, "reader": "csv",
            "splits": {"train": {}, "validation": {}, "test": {}}}
    if drop_empty is not None:
        spec["drop_empty"] = drop_empty
    tasks.mkdir()
    (tasks / "reviews.yaml").write_text(yaml.safe_dump({"family": "reviews", "tasks": [spec]}, sort_keys=False))
    return data, tasks


def test_empty_text_rows_are_an_error_or_dropped_and_counted(tmp_path, capsys):
    data, tasks = empty_text_task(tmp_path, None)
    assert main(["--tasks-dir", str(tasks), "tasks", "show", "reviews", "--data-dir", str(data)]) == 2
    line = one_line_error(capsys)
    assert f"{data / 'reviews' / 'train.csv'}, line 8: the text in column 'text' is empty" in line
    assert "set 'drop_empty: true' in the spec of 'reviews'" in line
    data, tasks = empty_text_task(tmp_path / "opt-in", True)
    assert main(["--tasks-dir", str(tasks), "tasks", "show", "reviews", "--data-dir", str(data)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dropped_empty"] == {"train": 1, "validation": 0, "test": 1}
    assert {name: split["rows"] for name, split in shown["splits"].items()} == {"train": 8, "validation": 8, "test": 8}


def test_missing_data_dir(toy_env, capsys):
    nowhere = toy_env["results"].parent / "nowhere"
    assert main(harness_args(toy_env, "tasks", "show", toy_env["task"], "--data-dir", str(nowhere))) == 2
    assert f"--data-dir {nowhere} does not exist; give the folder" in one_line_error(capsys)
    assert main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--seeds", "1",
                             "--data-dir", str(nowhere), "--results", str(toy_env["results"]))) == 2
    one_line_error(capsys)
    assert not toy_env["results"].exists()


# --------------------------------------------------------------------------- models
def classifier(encoder: Path, target: Path, meta: bool = True) -> Path:
    """A saved 2-label classifier on the tiny encoder, with harness.json like --save-model writes."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        encoder, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(encoder).save_pretrained(target)
    if meta:
        (target / "harness.json").write_text(json.dumps(
            {"task": "toy", "labels": LABELS, "text_columns": ["sentence"], "max_length": 32, "model": "tiny", "seed": 0}))
    return target


def to_pickle(folder: Path, payload=None) -> Path:
    """Replace model.safetensors by pytorch_model.bin (the same tensors, or `payload`)."""
    import torch
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    torch.save(load_file(weights) if payload is None else payload, folder / "pytorch_model.bin")
    weights.unlink()
    return folder


@pytest.fixture(scope="module")
def predict_models(tmp_path_factory, tiny_model_dir):
    import shutil

    root = tmp_path_factory.mktemp("robust-predict")
    good = classifier(tiny_model_dir, root / "good")
    pickled = to_pickle(classifier(tiny_model_dir, root / "pickled"))
    refused = to_pickle(classifier(tiny_model_dir, root / "refused"), payload={"weights": argparse_namespace()})
    base = root / "base"
    shutil.copytree(tiny_model_dir, base)  # an encoder without a classification head
    (base / "harness.json").write_text((good / "harness.json").read_text())
    bare = classifier(tiny_model_dir, root / "bare", meta=False)
    return {"good": good, "pickled": pickled, "refused": refused, "base": base, "bare": bare}


def argparse_namespace():
    import argparse

    return argparse.Namespace(code="a global the safe unpickler refuses")


def test_predict_pickle_only_folder(predict_models, capsys):
    folder = predict_models["pickled"]
    before = snapshot(folder)
    assert main(["predict", str(folder), "the soup was warm"]) == 2
    line = one_line_error(capsys)
    assert "holds only pickle weights (pytorch_model.bin)" in line and "save_pretrained" in line
    assert "--allow-pickle" in line
    assert main(["predict", str(folder), "the soup was warm", "--allow-pickle"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in LABELS
    assert main(["predict", str(predict_models["refused"]), "the soup was warm", "--allow-pickle"]) == 2
    assert f"cannot load the model in {predict_models['refused']}" in one_line_error(capsys)
    assert snapshot(folder) == before


def test_predict_refuses_what_is_not_a_fine_tuned_classifier(predict_models, tmp_path, capsys):
    assert main(["predict", str(predict_models["base"]), "the soup was warm"]) == 2
    line = one_line_error(capsys)
    assert "classifier.weight" in line and "initialise at random: not a fine-tuned classifier" in line
    assert main(["predict", str(predict_models["bare"]), "the soup was warm"]) == 2
    assert "has no harness.json" in one_line_error(capsys)
    assert main(["predict", str(predict_models["good"]), "the soup was warm"]) == 0
    capsys.readouterr()


def test_predict_input_not_utf8_or_empty(predict_models, tmp_path, capsys):
    good = str(predict_models["good"])
    latin = tmp_path / "in.csv"
    latin.write_bytes("sentence\nun café tiède\n".encode("latin-1"))
    out = tmp_path / "out.csv"
    assert main(["predict", good, "--input", str(latin), "--output", str(out)]) == 2
    assert f"input file {latin}, line 2: not UTF-8 text" in one_line_error(capsys)
    for name, content in (("empty.csv", "sentence\n"), ("empty.jsonl", "\n")):
        path = tmp_path / name
        path.write_text(content)
        assert main(["predict", good, "--input", str(path), "--output", str(out)]) == 2
        assert "holds no rows to predict" in one_line_error(capsys)
    assert not out.exists()


def test_run_refuses_pickle_only_model_unless_the_spec_opts_in_and_sets_aside_a_bad_record(toy_env, tmp_path, capsys):
    import shutil

    pickled = to_pickle(Path(shutil.copytree(_tiny(toy_env), tmp_path / "pickled")))
    spec = yaml.safe_load(toy_env["models"].read_text())
    spec["models"].append({"name": "pickled", "source": str(pickled)})
    toy_env["models"].write_text(yaml.safe_dump(spec))
    args = ["run", "--tasks", toy_env["task"], "--models", "pickled", "--seeds", "1", "--data-dir",
            str(toy_env["data"]), "--results", str(toy_env["results"]), "--no-leaderboard", "--no-plots",
            "--set", "max_steps=2", "--max-train-samples", "8", "--max-eval-samples", "8"]
    assert main(harness_args(toy_env, *args)) == 2
    line = one_line_error(capsys)
    assert "model 'pickled'" in line and "allow_pickle: true" in line
    assert not toy_env["results"].exists()
    spec["models"][-1]["allow_pickle"] = True
    toy_env["models"].write_text(yaml.safe_dump(spec))
    # an unreadable record where this cell's record goes is stale: kept aside, and the cell reruns
    path = record_path(toy_env["results"], toy_env["task"], "pickled", 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00 interrupted by a full disk")
    assert main(harness_args(toy_env, *args)) == 0
    record = read_record(path).to_json()
    assert record["status"] == "completed" and record["config"]["model"]["weights"] == "pickle"
    assert record["provenance"]["data_dropped_empty"] == {}
    (kept,) = path.parent.glob("seed-0.json.unreadable-*")
    assert kept.read_bytes() == b"\x00 interrupted by a full disk"


def _tiny(env) -> Path:
    return Path(yaml.safe_load(env["models"].read_text())["models"][0]["source"])


@pytest.mark.parametrize("where", ["config.model.warmup", "training.loss_curve", "predictions.test"])
def test_a_number_too_large_for_a_float_is_rejected_wherever_it_hides(tmp_path, where):
    """1e999 parses as infinity: in an extra key, inside a list of objects or among the label ids,
    the record is rejected as non-finite, naming the file and the line."""
    from harness.errors import HarnessError
    from harness.records.store import read_record

    path = write_results(tmp_path / "results", [make_record("toy", "m", 0, [0, 1] * 10, [0, 1] * 10, LABELS)]) \
        / "toy" / "m" / "seed-0.json"
    record = json.loads(path.read_text())
    if where == "config.model.warmup":
        record["config"]["model"]["warmup"] = "INF"
    elif where == "training.loss_curve":
        record["training"]["loss_curve"] = [{"step": 1, "loss": 0.5}, {"step": 2, "loss": "INF"}]
    else:
        record["predictions"]["test"][3] = "INF"
    path.write_text(json.dumps(record, indent=1).replace('"INF"', "1e999"))
    with pytest.raises(HarnessError, match=r"seed-0\.json, line \d+: holds a non-finite number \(1e999\)"):
        read_record(path)


def test_finite_floats_whose_sum_overflows_are_read(tmp_path):
    """A list of large but finite floats (its sum is inf) is a finite record: read as before."""
    from harness.records.store import read_record

    record = make_record("toy", "m", 0, [0, 1] * 10, [0, 1] * 10, LABELS)
    record["config"]["model"]["scales"] = [1.5e308, 1.5e308]
    path = write_results(tmp_path / "results", [record]) / "toy" / "m" / "seed-0.json"
    assert read_record(path).config.model["scales"] == [1.5e308, 1.5e308]
