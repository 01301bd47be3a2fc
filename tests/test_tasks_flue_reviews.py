"""XNLI-fr, PAWS-X-fr, Allociné and IMDb: their upstream layouts and quirks, the Hub schema, and
what a run records about empty rows and truncated long reviews.

The fixtures under tests/fixtures/upstream/{XNLI-1.0, XNLI-MT-1.0, x-final, allocine_dataset,
aclImdb} were written for these tests in each release's layout: XNLI's dev / test files hold
several languages, a French premise opens an unbalanced quote, a PAWS-X translation is empty,
Allociné and IMDb each hold a review longer than 512 characters, IMDb reviews carry `<br />`.
The expected values below were worked out by hand from those files.
"""
from __future__ import annotations

import csv
import http.server
import io
import json
import shutil
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
import yaml

from conftest import harness_args
from harness.cli import main as cli
from harness.errors import DataError, SpecError
from harness.data.readers import read_tsv
from harness.records.store import read_record, record_path
from harness.data.tasks import describe_task, load_registry, load_task

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "upstream"

# XNLI-1.0/xnli.dev.tsv: the French rows, in file order (the file also holds en, de and es rows).
XNLI_DEV_FR = [
    ("Le vieux port est bordé de cafés et de bateaux de pêche.", "Il y a des bateaux dans le port.", 0),
    ('"Bon, je n\'y avais jamais pensé comme ça, dit-il.', "Il y avait toujours pensé de cette façon.", 2),
    ("La commission publiera son rapport au printemps.", "Le rapport sera très long.", 1),
    ("Elle referma doucement la porte derrière elle.", "Elle a fermé la porte.", 0),
]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.delenv("HARNESS_TASKS_DIR", raising=False)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def rows(dataset, *columns: str) -> list[tuple]:
    data = dataset.to_dict()
    return list(zip(*(data[c] for c in columns or dataset.column_names)))


# --------------------------------------------------------------------------- XNLI
def test_xnli_fr_keeps_only_the_french_rows_of_the_multilingual_files(registry):
    data = load_task(registry["xnli-fr"], FIXTURES)
    assert rows(data.splits["validation"], "premise", "hypothesis", "label") == XNLI_DEV_FR
    test = rows(data.splits["test"], "premise", "hypothesis", "label")
    assert [label for *_, label in test] == [1, 0, 2, 2, 0]
    assert test[3] == ('Ils ont dit "demain" mais personne n\'est venu.', "Quelqu'un est venu le lendemain.", 2)
    every = " ".join(p + h for p, h, _ in test + rows(data.splits["validation"], "premise", "hypothesis", "label"))
    assert "Hafen" not in every and "harbour" not in every and "bicicletas" not in every
    assert data.files["validation"] == str(FIXTURES / "XNLI-1.0/xnli.dev.tsv")
    assert data.warnings["test"] == "5 rows, the full upstream split has 5010"


def test_xnli_mt_train_reads_quotes_literally_and_renames_contradictory(registry):
    data = load_task(registry["xnli-fr"], FIXTURES)
    train = rows(data.splits["train"], "premise", "hypothesis", "label")
    assert len(train) == 10  # one row a line: an unbalanced quote does not swallow the next lines
    assert [label for *_, label in train] == [0, 2, 0, 1, 0, 2, 2, 0, 1, 2]  # 'contradictory' -> 2
    assert train[2][0] == '"Un de nos agents vous rappellera dans la journée.'
    assert train[7][0] == 'Les enfants ont construit un "château" de sable sur la plage.'
    assert data.files["train"] == str(FIXTURES / "XNLI-MT-1.0/multinli/multinli.train.fr.tsv")


def test_xnli_mt_file_holds_the_quoting_quirk():
    """Read with standard CSV quoting, the fixture loses rows: the quirk the reader must avoid."""
    path = FIXTURES / "XNLI-MT-1.0/multinli/multinli.train.fr.tsv"
    with open(path, encoding="utf-8", newline="") as handle:
        quoted = list(csv.reader(handle, delimiter="\t"))
    assert len(quoted) - 1 < 10
    try:
        read = len(list(read_tsv(path, ["premise", "hypo"], "label")))
    except DataError:
        read = None
    assert read != 10


def test_a_split_reader_that_does_not_exist_names_the_field(tmp_path, registry):
    spec = registry["xnli-fr"].model_dump(exclude={"spec_file", "spec_dir"})
    spec["name"] = "xnli-typo"
    spec["splits"]["train"]["reader"] = "xnli_mt_tvs"
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"family": "x", "tasks": [spec]}), encoding="utf-8")
    with pytest.raises(SpecError, match=r"field 'splits\.train\.reader': unknown reader 'xnli_mt_tvs' "
                                        r"\(did you mean 'xnli_mt_tsv'\?\)"):
        load_registry([tmp_path])


# --------------------------------------------------------------------------- PAWS-X
def test_pawsx_fr_drops_the_empty_translation_and_counts_it(registry):
    data = load_task(registry["pawsx-fr"], FIXTURES)
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 8, "validation": 4, "test": 5}
    assert data.dropped_empty == {"train": 1, "validation": 0, "test": 0}
    sentences = data.splits["train"]["sentence1"]
    assert "La rivière traverse la vallée d'est en ouest." not in sentences  # its sentence2 was empty
    assert all(s.strip() for s in data.splits["train"]["sentence2"])
    assert data.splits["train"]["label"] == [1, 0, 0, 1, 1, 0, 1, 1]
    assert data.splits["train"][6]["sentence2"] == "Le deuxième roman de l'auteur s'intitule \"Les Oiseaux\"."
    # expected_rows is checked on the rows read, before the empty one is dropped
    assert data.warnings["train"] == "9 rows, the full upstream split has 49401"
    assert describe_task(data)["dropped_empty"] == {"train": 1, "validation": 0, "test": 0}


def test_drop_empty_applies_to_the_hub_schema_too(tmp_path, registry):
    """The generic layout holds the Hub's Parquet schema (id, sentence1, sentence2, label)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "pawsx-fr"
    folder.mkdir()
    for split, n in (("train", 6), ("validation", 2), ("test", 3)):
        first = [f"{split} phrase {i}" for i in range(n)]
        second = [f"{split} autre phrase {i}" for i in range(n)]
        if split == "train":
            first[1], second[4] = "   ", ""
        pq.write_table(pa.table({"id": list(range(n)), "sentence1": first, "sentence2": second,
                                 "label": [i % 2 for i in range(n)]}), folder / f"{split}.parquet")
    data = load_task(registry["pawsx-fr"], tmp_path)
    assert data.dropped_empty == {"train": 2, "validation": 0, "test": 0}
    assert data.splits["train"]["sentence1"] == ["train phrase 0", "train phrase 2", "train phrase 3", "train phrase 5"]


# --------------------------------------------------------------------------- Allociné
def test_allocine_reads_review_and_polarity(registry):
    data = load_task(registry["allocine"], FIXTURES)
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 8, "validation": 3, "test": 4}
    assert data.splits["train"]["label"] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert data.splits["test"][1] == {"review": "Un navet. Même la bande-annonce était meilleure.", "label": 0}
    long_review = data.splits["train"][2]["review"]
    assert len(long_review) > 1500 and long_review.endswith("que je reverrai avec plaisir.")
    assert data.files["validation"] == str(FIXTURES / "allocine_dataset/data/val.jsonl")


def test_allocine_missing_polarity_names_the_line(tmp_path, registry):
    data_dir = tmp_path / "data"
    shutil.copytree(FIXTURES / "allocine_dataset", data_dir / "allocine_dataset")
    path = data_dir / "allocine_dataset/data/test.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    del record["polarity"]
    lines[2] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.jsonl, line 3: missing field\(s\) \['polarity'\]"):
        load_task(registry["allocine"], data_dir)


# --------------------------------------------------------------------------- IMDb
def test_imdb_reads_the_folder_of_files_with_br_tags_kept(registry):
    data = load_task(registry["imdb"], FIXTURES)
    # neg/ then pos/, files in name order: 0_2.txt, 1_4.txt | 0_10.txt, 1_8.txt
    assert rows(data.splits["test"], "text", "label") == [
        ("Flat characters, flat jokes, flat everything.", 0),
        ("The villain's motives make no sense at all.<br />What a waste of a good cast.", 0),
        ("A small film with a very big heart.<br /><br />Highly recommended.", 1),
        ("Clever, tender and never condescending to its young audience.", 1),
    ]
    both = rows(data.splits["train"], "text", "label") + rows(data.splits["validation"], "text", "label")
    assert len(both) == 8 and sorted(label for _, label in both) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert len(data.splits["validation"]) == 1  # ceil(10% of 8), seed 2011
    assert data.files["validation"] == "10% of train, seed 2011, not stratified (too few rows per label)"
    assert data.files["train"] == str(FIXTURES / "aclImdb/train")
    assert data.warnings == {"train": "8 rows, the full upstream split has 25000",
                             "test": "4 rows, the full upstream split has 25000"}


def test_imdb_split_folder_without_pos_is_an_error(tmp_path, registry):
    data_dir = tmp_path / "data"
    shutil.copytree(FIXTURES / "aclImdb", data_dir / "aclImdb")
    shutil.rmtree(data_dir / "aclImdb/test/pos")
    with pytest.raises(DataError) as info:
        load_task(registry["imdb"], data_dir)
    assert str(info.value) == (
        f"{data_dir / 'aclImdb/test'}: missing folder(s) ['pos']; an aclImdb split folder holds neg/ and pos/"
    )


# --------------------------------------------------------------------------- Hub and URLs
def test_hub_ids_configs_and_splits(monkeypatch, registry):
    """The Hub path with `datasets.load_dataset` replaced by an in-memory stand-in in the Hub schemas."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, revision=None, split=None):
        calls.append((path, name, split))
        n = {"train": 20, "validation": 4, "test": 6}[split]
        labels = [i % 2 for i in range(n)]
        if path == "facebook/xnli":
            return datasets.Dataset.from_dict({"premise": [f"p{i}" for i in range(n)],
                                               "hypothesis": [f"h{i}" for i in range(n)], "label": [i % 3 for i in range(n)]})
        if path == "google-research-datasets/paws-x":
            second = ["" if i == 3 and split == "train" else f"b{i}" for i in range(n)]
            return datasets.Dataset.from_dict({"id": list(range(n)), "sentence1": [f"a{i}" for i in range(n)],
                                               "sentence2": second, "label": labels})
        column = "review" if path == "tblard/allocine" else "text"
        return datasets.Dataset.from_dict({column: [f"{split} review {i}" for i in range(n)], "label": labels})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    xnli = load_task(registry["xnli-fr"])
    assert [c for c in calls if c[0] == "facebook/xnli"] == [("facebook/xnli", "fr", s) for s in ("train", "validation", "test")]
    assert xnli.splits["test"]["label"] == [0, 1, 2, 0, 1, 2]
    pawsx = load_task(registry["pawsx-fr"])
    assert ("google-research-datasets/paws-x", "fr", "train") in calls
    assert pawsx.dropped_empty == {"train": 1, "validation": 0, "test": 0} and len(pawsx.splits["train"]) == 19
    allocine = load_task(registry["allocine"])
    assert ("tblard/allocine", None, "validation") in calls and len(allocine.splits["validation"]) == 4
    imdb = load_task(registry["imdb"])
    assert ("stanfordnlp/imdb", "plain_text", "validation") not in calls  # IMDb has none: carved from train
    assert len(imdb.splits["train"]) == 18 and len(imdb.splits["validation"]) == 2


@pytest.fixture()
def archives(tmp_path, monkeypatch):
    """The XNLI zips and the aclImdb tar.gz built from the fixtures, served from loopback."""
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "XNLI-1.0.zip", "w") as archive:
        for name in ("xnli.dev.tsv", "xnli.test.tsv"):
            archive.write(FIXTURES / "XNLI-1.0" / name, f"XNLI-1.0/{name}")
    with zipfile.ZipFile(root / "XNLI-MT-1.0.zip", "w") as archive:
        archive.write(FIXTURES / "XNLI-MT-1.0/multinli/multinli.train.fr.tsv", "XNLI-MT-1.0/multinli/multinli.train.fr.tsv")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(FIXTURES / "aclImdb", arcname="aclImdb")
    (root / "aclImdb_v1.tar.gz").write_bytes(buffer.getvalue())

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", False, raising=False)
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", False, raising=False)
    monkeypatch.setattr("datasets.config.DOWNLOADED_DATASETS_PATH", tmp_path / "hf-cache" / "downloads", raising=False)
    monkeypatch.setattr("datasets.config.EXTRACTED_DATASETS_PATH", tmp_path / "hf-cache" / "extracted", raising=False)
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_xnli_zips_and_imdb_archive_folder_load_from_urls(tmp_path, archives, registry):
    """The shipped specs with their URLs moved to loopback and no Hub: the archive members (a
    file in a zip, a folder in a tar.gz) are read as the local files are."""
    tasks = []
    for name in ("xnli-fr", "imdb"):
        spec = registry[name].model_dump(exclude={"spec_file", "spec_dir"})
        spec["name"], spec["hub"] = f"url-{name}", None
        for source in spec["splits"].values():
            source["url"] = f"{archives}/{source['url'].rsplit('/', 1)[1]}"
        tasks.append(spec)
    (tmp_path / "url.yaml").write_text(yaml.safe_dump({"family": "url", "tasks": tasks}), encoding="utf-8")
    urls = load_registry([tmp_path])
    for name in ("xnli-fr", "imdb"):
        remote, local = load_task(urls[f"url-{name}"]), load_task(registry[name], FIXTURES)
        assert remote.fingerprint == local.fingerprint, name
    assert load_task(urls["url-imdb"]).files["test"].endswith("aclImdb_v1.tar.gz#aclImdb/test")


# --------------------------------------------------------------------------- command line
def test_cli_tasks_show_reports_dropped_rows(capsys):
    assert cli.main(["tasks", "show", "pawsx-fr", "--data-dir", str(FIXTURES)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {k: v["rows"] for k, v in shown["splits"].items()} == {"train": 8, "validation": 4, "test": 5}
    assert shown["dropped_empty"] == {"train": 1, "validation": 0, "test": 0}
    assert cli.main(["tasks", "show", "xnli-fr", "--data-dir", str(FIXTURES)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["splits"]["validation"]["label_counts"] == {"entailment": 2, "neutral": 1, "contradiction": 1}
    assert "dropped_empty" not in shown


def test_cli_tasks_lists_the_new_tasks(capsys):
    assert cli.main(["tasks"]) == 0
    table = capsys.readouterr().out
    assert cli.main(["tasks", "--format", "json"]) == 0
    listed = {task["name"]: task for task in json.loads(capsys.readouterr().out)}
    for name in ("xnli-fr", "pawsx-fr", "allocine", "imdb"):
        assert any(line.startswith(f"{name} ") for line in table.splitlines()), name
        assert listed[name]["language"] == ("en" if name == "imdb" else "fr")


def test_suites_gain_the_new_tasks():
    suites = {s["name"]: s for s in yaml.safe_load((Path(__file__).parents[1] / "suites.yaml").read_text())["suites"]}
    assert {"xnli-fr", "pawsx-fr", "allocine"} <= set(suites["french"]["tasks"])
    assert suites["flue"]["tasks"] == ["flue-cls-books", "flue-cls-dvd", "flue-cls-music", "pawsx-fr", "xnli-fr"]
    assert "imdb" in suites["glue"]["tasks"]
    assert {"xnli-fr", "pawsx-fr", "allocine", "imdb"} <= set(suites["all"]["tasks"])


# --------------------------------------------------------------------------- truncation
def test_encode_split_counts_and_cuts_at_the_spec_side(tiny_model_dir):
    import datasets
    from transformers import AutoTokenizer

    from harness.data.encoding import encode_split

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["the soup was warm", "the soup was warm and tasty and the bread was fresh and the coffee great",
             "a calm day"]
    dataset = datasets.Dataset.from_dict({"sentence": texts, "label": [1, 1, 0]})
    full = [tokenizer(t)["input_ids"] for t in texts]
    limit = 8
    expected = sum(len(ids) > limit for ids in full)
    assert expected == 1
    right, n_right = encode_split(dataset, tokenizer, ["sentence"], limit, "trunc-test")
    left, n_left = encode_split(dataset, tokenizer, ["sentence"], limit, "trunc-test", truncation_side="left")
    assert n_right == n_left == expected
    assert right["input_ids"][1][1:-1] == full[1][1:limit - 1]  # the beginning kept
    assert left["input_ids"][1][1:-1] == full[1][-(limit - 1):-1]  # the end kept
    assert right["input_ids"][0] == left["input_ids"][0] == full[0]  # short texts untouched
    assert "truncated" not in right.column_names


def test_run_records_truncated_and_dropped_rows(tmp_path, tiny_model_dir, capsys):
    from helpers import write_models_file

    models = write_models_file(tmp_path / "models.yaml", [{"name": "tiny", "source": str(tiny_model_dir)}])
    env = {"tasks": tmp_path / "no-extra-tasks", "models": models}
    env["tasks"].mkdir()
    results = tmp_path / "results"
    code = cli.main(harness_args(env, "run", "--tasks", "pawsx-fr,imdb", "--models", "tiny", "--seeds", "1",
                                 "--data-dir", str(FIXTURES), "--results", str(results), "--no-plots",
                                 "--no-leaderboard", "--set", "max_epochs=1", "--set", "max_length=32",
                                 "--set", "eval_steps=2", "--set", "batch_size=4", "--set", "truncation_side=left",
                                 "--save-model"))
    assert code == 0, capsys.readouterr().err
    pawsx = read_record(record_path(results, "pawsx-fr", "tiny", 0)).to_json()
    imdb = read_record(record_path(results, "imdb", "tiny", 0)).to_json()
    assert pawsx["data"]["dropped_empty"] == {"train": 1, "validation": 0, "test": 0}
    assert pawsx["data"]["rows"] == {"train": 8, "validation": 4, "test": 5}
    assert imdb["data"]["max_length"] == 32 and imdb["data"]["truncation_side"] == "left"
    assert "dropped_empty" not in imdb["data"]
    # the long review (six paragraphs) is in train or validation; every test review is short but one
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = load_task(load_registry()["imdb"], FIXTURES)
    expected = {split: sum(len(tokenizer(t)["input_ids"]) > 32 for t in ds["text"]) for split, ds in data.splits.items()}
    assert imdb["data"]["truncated"] == expected
    assert expected["train"] + expected["validation"] >= 1
    assert imdb["config"]["recipe"]["truncation_side"] == "left"
    # a kept model predicts with the same cut as in training
    from harness.predict import Predictor

    saved = Path(imdb["saved_model"])
    assert json.loads((saved / "harness.json").read_text())["truncation_side"] == "left"
    assert Predictor(saved).tokenizer.truncation_side == "left"
