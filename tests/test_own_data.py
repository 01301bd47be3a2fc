"""A user's own data without editing code: where `local:` files are found, delimiter / encoding /
header options, the stratified carve-out, and `harness tasks init`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli.main import main as cli
from harness.data.tasks import describe_task, load_registry, load_task
from harness.errors import DataError, SpecError

REVIEWS = [
    ("Accueil chaleureux, plats copieux et desserts maison.", "positif"),
    ("Service très lent ; la soupe est arrivée froide.", "negatif"),
    ("Correct, sans plus, pour un déjeuner rapide.", "neutre"),
    ("Une terrasse agréable et un chef qui vient saluer.", "positif"),
    ("Trop cher pour des portions minuscules, déçu.", "negatif"),
    ("Carte courte, cuisine honnête, prix moyens.", "neutre"),
    ("Le meilleur couscous du quartier, sans hésiter.", "positif"),
    ("Serveur désagréable et addition fausse.", "negatif"),
    ("Rien de marquant, mais rien à redire non plus.", "neutre"),
    ("Vins bien choisis, pain fait maison, bravo.", "positif"),
    ("Table collante et frites molles.", "negatif"),
    ("Ambiance calme, menu du jour classique.", "neutre"),
]


def write_csv(path: Path, rows, delimiter=";", header=("avis", "note"), encoding="utf-8") -> Path:
    lines = ([delimiter.join(header)] if header else []) + [f'"{t}"{delimiter}{lab}' for t, lab in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def write_spec(folder: Path, **fields) -> Path:
    task = {
        "name": "avis-resto", "language": "fr", "description": "Avis de restaurants, trois niveaux.",
        "text": "avis", "label": "note", "labels": ["negatif", "neutre", "positif"], "reader": "csv",
        "splits": {"train": {"local": "train.csv"}, "test": {"local": "test.csv"}},
        "validation_from_train": {"fraction": 0.25, "seed": 7},
    } | fields
    path = folder / "avis.yaml"
    path.write_text(yaml.safe_dump({"family": "avis", "tasks": [task]}, allow_unicode=True), encoding="utf-8")
    return path


def own_task(folder: Path, data_dir=None, **fields):
    write_spec(folder, **fields)
    return load_task(load_registry([folder])["avis-resto"], data_dir)


@pytest.fixture
def task_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "avis"
    folder.mkdir()
    write_csv(folder / "train.csv", REVIEWS)
    write_csv(folder / "test.csv", REVIEWS[:6])
    return folder


def test_local_paths_resolve_against_the_task_files_folder(task_folder):
    data = own_task(task_folder)
    assert data.files["train"] == str(task_folder / "train.csv")
    assert len(data.splits["train"]) + len(data.splits["validation"]) == 12


def test_local_paths_prefer_the_data_dir_then_fall_back_to_the_task_folder(task_folder, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_csv(data_dir / "train.csv", REVIEWS + REVIEWS[:3])
    data = own_task(task_folder, data_dir)
    assert data.files["train"] == str(data_dir / "train.csv")
    assert data.files["test"] == str(task_folder / "test.csv")  # not under the data dir: beside the spec


def test_a_missing_local_file_names_the_paths_tried(task_folder):
    (task_folder / "test.csv").unlink()
    with pytest.raises(SpecError, match=r"split 'test': no file found \(tried .*avis/test.csv\)"):
        own_task(task_folder)


def test_a_semicolon_file_is_read_and_tasks_show_reports_what_was_detected(task_folder):
    shown = describe_task(own_task(task_folder))
    assert shown["formats"]["train"] == {"reader": "csv", "encoding": "utf-8", "delimiter": ";"}
    assert sum(shown["splits"][s]["rows"] for s in ("train", "validation")) == 12


def test_an_explicit_delimiter_is_used(task_folder):
    write_csv(task_folder / "train.csv", REVIEWS, delimiter="|")
    write_csv(task_folder / "test.csv", REVIEWS[:6], delimiter="|")
    data = own_task(task_folder, delimiter="|")
    assert data.formats["train"]["delimiter"] == "|"
    assert "Service très lent ; la soupe est arrivée froide." in list(data.splits["train"]["avis"]) + list(data.splits["validation"]["avis"])


def test_a_cp1252_file_needs_its_encoding_named_and_then_reads(task_folder):
    write_csv(task_folder / "train.csv", REVIEWS, encoding="cp1252")
    with pytest.raises(DataError, match=r"not UTF-8 text .*encoding: cp1252"):
        own_task(task_folder)
    data = own_task(task_folder, encoding="cp1252")
    assert data.formats["train"]["encoding"] == "cp1252"
    assert "Trop cher pour des portions minuscules, déçu." in list(data.splits["train"]["avis"]) + list(data.splits["validation"]["avis"])


def test_a_file_without_header_is_read_by_column_index(task_folder):
    write_csv(task_folder / "train.csv", REVIEWS, header=None)
    write_csv(task_folder / "test.csv", REVIEWS[:6], header=None)
    data = own_task(task_folder, header=False, text=0, label=1)
    assert len(data.splits["test"]) == 6  # the first line is a row
    assert data.splits["test"]["0"][0] == REVIEWS[0][0]


def test_header_false_needs_column_indexes_and_options_need_a_delimited_reader(task_folder):
    with pytest.raises(SpecError, match="text and label are column indexes"):
        own_task(task_folder, header=False)
    with pytest.raises(SpecError, match="delimiter: only for the csv and tsv readers"):
        own_task(task_folder, delimiter=";", reader="jsonl")
    with pytest.raises(SpecError, match="unknown encoding 'utf-9'"):
        own_task(task_folder, encoding="utf-9")


def test_the_carved_validation_split_is_stratified_by_label_with_its_seed(task_folder):
    data = own_task(task_folder)
    assert data.label_counts("validation") == {"negatif": 1, "neutre": 1, "positif": 1}
    assert data.label_counts("train") == {"negatif": 3, "neutre": 3, "positif": 3}
    assert data.files["validation"] == "25% of train, seed 7, stratified by label"
    again = own_task(task_folder)
    assert list(again.splits["validation"]["avis"]) == list(data.splits["validation"]["avis"])


def test_the_carve_out_can_be_plain_when_the_spec_says_so(task_folder):
    data = own_task(task_folder, validation_from_train={"fraction": 0.25, "seed": 7, "stratify": False})
    assert data.files["validation"] == "25% of train, seed 7"


def test_tasks_init_writes_a_starter_spec_that_loads(task_folder, capsys):
    code = cli(["tasks", "init", "avis-resto", "--from", str(task_folder / "train.csv")])
    out = capsys.readouterr().out
    assert code == 0
    assert "text column 'avis', label column 'note' with 3 labels (negatif 4, neutre 4, positif 4)" in out
    spec_file = task_folder / "avis-resto.yaml"
    text = spec_file.read_text(encoding="utf-8")
    assert 'delimiter: ";"' in text and "test: {local: test.csv}" in text and "TODO" in text
    assert cli(["--tasks-dir", str(task_folder), "tasks", "show", "avis-resto"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["splits"]["test"]["rows"] == 6
    assert cli(["tasks", "init", "avis-resto", "--from", str(task_folder / "train.csv")]) == 2  # never overwrites
    assert "exists; edit it" in capsys.readouterr().err


def test_tasks_init_without_a_test_file_says_so(tmp_path, capsys):
    write_csv(tmp_path / "reviews.csv", REVIEWS)
    assert cli(["tasks", "init", "reviews", "--from", str(tmp_path / "reviews.csv")]) == 0
    assert "no test file found: set splits.test" in capsys.readouterr().out
    assert "TODO: held-out rows" in (tmp_path / "reviews.yaml").read_text(encoding="utf-8")
