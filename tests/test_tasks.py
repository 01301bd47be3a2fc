"""Task registry and data adapters: spec validation, the upstream and generic local layouts,
label mapping, carve-outs, error messages and the `harness tasks` commands.

The fixtures under tests/fixtures/upstream/ were written by hand for these tests, in the upstream
layout of each real task. The expected values below were worked out by hand from those files.
Files with bad content are made in tmp_path by the tests that need them.
"""
from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main as cli
from harness.errors import DataError, HarnessError, SpecError
from harness.data.readers import READERS
from harness.data.tasks import describe_task, get_task, load_registry, load_task, parse_family_file

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "upstream"

REAL_TASKS = {
    "glue.yaml": ["sst2"],
    "snli.yaml": ["snli"],
    "miam.yaml": ["miam-loria", "miam-dihana", "miam-ilisten", "miam-maptask", "miam-vm2"],
    "flue_cls.yaml": ["flue-cls-books", "flue-cls-dvd", "flue-cls-music"],
    "xnli.yaml": ["xnli-fr"],
    "pawsx.yaml": ["pawsx-fr"],
    "reviews.yaml": ["allocine", "imdb"],
}
DEMO_TASKS = ["demo-sentiment-fr", "demo-sentiment-en", "demo-nli-en", "demo-dialogue-fr"]

# The 31 LORIA dialogue acts in the order of the issue (the original loader's sorted list).
LORIA_ACTS = [
    "ack", "ask", "find_mold", "find_plans", "first_step", "greet", "help", "inform", "inform_engine",
    "inform_job", "inform_material_space", "informer_conditioner", "informer_decoration", "informer_elcomps",
    "informer_end_manufacturing", "kindAtt", "manufacturing_reqs", "next_step", "no", "other",
    "quality_control", "quit", "reqRep", "security_policies", "staff_enterprise", "staff_job",
    "studies_enterprise", "studies_job", "todo_failure", "todo_irreparable", "yes",
]

# SST-2/train.tsv, in file order: (sentence, label).
SST2_TRAIN = [
    ("a warm , funny film that never forgets its heart .", 1),
    ("the plot wanders off and never finds its way back .", 0),
    ('"spirited" is too weak a word for this lively cast .', 1),
    ('" an odd little gem that grows on you with every scene .', 1),
    ('the hero\'s 12" action figure has more range than the lead actor .', 0),
    ("two hours of shouting , slamming doors and nothing else .", 0),
    ("it is smart , tender and quietly devastating .", 1),
    ("the jokes land flat and the songs are forgettable .", 0),
    ('a "comedy" in name only .', 0),
    ("the final scene alone is worth the price of a ticket .", 1),
    ("every frame looks like a painting , but the story is hollow .", 0),
    ("a gentle , generous portrait of a family in trouble .", 1),
    ("i laughed , i cried , i called my mother .", 1),
    ("the villain's motives make no sense at all .", 0),
    ("beautifully shot and wonderfully acted .", 1),
    ("too long , too loud and far too pleased with itself .", 0),
    ("the kids in the audience cheered at the end .", 1),
    ("a dull remake of a film nobody asked to see again .", 0),
    ("she gives the role a fierce , quiet dignity .", 1),
    ("a script that sparkles from the first line to the last .", 1),
]
# SST-2/dev.tsv (BOM, CRLF): GLUE validation = the harness's test split.
SST2_DEV = [
    ("a thrilling ride from start to finish .", 1),
    ('"why ?" is the only question this film raises .', 0),
    ("flat characters , flat jokes , flat everything .", 0),
    ("the music lifts every scene it touches .", 1),
    ('you could watch it on a 3" phone screen and still miss nothing .', 0),
    ("a small film with a very big heart .", 1),
    ("the actors seem to be having the time of their lives .", 1),
    ("funny , wise and never condescending .", 1),
]

# The FLUE CLS books train file: (text after XML unescaping, label: rating > 3).
CLS_BOOKS_TRAIN = [
    ("J'ai dévoré ce roman en deux soirées. Les personnages sont attachants et la fin m'a ému aux larmes.", 1),
    ("Intrigue cousue de fil blanc, style plat & dialogues sans vie. Je ne le recommande pas.", 0),
    ("Une enquête bien menée, quelques longueurs au milieu, mais le dénouement vaut le détour.", 1),
    ("L'auteur se perd dans des descriptions interminables ; j'ai abandonné à la page 200.", 0),
    ("Le meilleur livre de cuisine que je possède : recettes claires, photos superbes & astuces utiles.", 1),
    ("Ni bon ni mauvais. Le début est prometteur, la suite beaucoup moins.", 0),  # rating 3.0
    ("Mes enfants réclament ce conte tous les soirs, et je ne m'en lasse pas non plus !", 1),
    ("Des fautes à chaque page et des phrases incompréhensibles. L'éditeur devrait avoir honte.", 0),
    ('Un premier roman sensible, écrit avec "une plume" délicate. J\'attends le suivant.', 1),
    ("Pratique pour préparer un voyage en Bretagne, même si certaines adresses ont fermé.", 1),
]


# --------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    """The environment of the machine running the tests must not change what they read."""
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.delenv("HARNESS_TASKS_DIR", raising=False)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


_LOADED: dict[str, object] = {}


def fixture_task(name: str):
    """Load a real task from the hand-written upstream fixtures (once per test session)."""
    if name not in _LOADED:
        _LOADED[name] = load_task(load_registry()[name], FIXTURES)
    return _LOADED[name]


def col(dataset, column: str) -> list:
    return list(dataset[column])


def rows(dataset, *columns: str) -> list[tuple]:
    columns = columns or tuple(c for c in dataset.column_names)
    data = dataset.to_dict()
    return list(zip(*(data[c] for c in columns)))


def copy_fixture(tmp_path: Path, folder: str) -> Path:
    """Copy one upstream fixture folder into tmp_path/data (to damage it there); returns the data dir."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / folder, data / folder)
    return data


TOY_SPEC = {
    "name": "toy",
    "language": "en",
    "description": "A toy task written for the tests.",
    "text": "sentence",
    "label": "label",
    "labels": ["negative", "positive"],
    "reader": "jsonl",
    "splits": {"train": {}, "validation": {}, "test": {}},
}


def write_spec(folder: Path, tasks: list[dict], family: str = "toy", filename: str | None = None, **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (filename or f"{family}.yaml")
    path.write_text(yaml.safe_dump({"family": family, **top, "tasks": tasks}, sort_keys=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- registry
def test_registry_lists_every_family_and_task(registry):
    by_file: dict[str, list[str]] = {}
    for name, spec in registry.items():
        by_file.setdefault(Path(spec.spec_file).name, []).append(name)
    assert by_file == {**REAL_TASKS, "demo.yaml": DEMO_TASKS}
    # 14 real tasks (1 GLUE, 1 SNLI, 5 MIAM, 3 FLUE CLS, XNLI, PAWS-X, Allociné, IMDb) + 4 demo tasks
    assert len(registry) == 18
    assert all(Path(spec.spec_file).parent == REPO / "tasks" for spec in registry.values())


def test_miam_loria_has_31_acts_in_the_issue_order(registry):
    spec = registry["miam-loria"]
    assert spec.labels == LORIA_ACTS
    assert len(spec.labels) == 31
    assert spec.labels == sorted(spec.labels)
    for subset, count in {"dihana": 11, "ilisten": 15, "maptask": 12, "vm2": 31}.items():
        assert len(registry[f"miam-{subset}"].labels) == count
        assert registry[f"miam-{subset}"].labels == sorted(registry[f"miam-{subset}"].labels)


def test_family_defaults_and_vars_are_filled_in(registry):
    vm2 = registry["miam-vm2"]
    assert vm2.text == ["Utterance"] and vm2.label == "Dialogue_Act" and vm2.reader == "csv"
    assert vm2.splits["validation"].local == "MIAM/vm2/dev.csv"
    assert vm2.splits["validation"].url == "https://raw.githubusercontent.com/eusip/MIAM/main/vm2/dev.csv"
    books = registry["flue-cls-dvd"]
    assert books.splits["train"].local == "cls-acl10-unprocessed/fr/dvd/train.review"
    assert books.splits["test"].member == "cls-acl10-unprocessed/fr/dvd/test.review"
    assert (books.validation_from_train.fraction, books.validation_from_train.seed) == (0.2, 42)
    sst2 = registry["sst2"]
    assert set(sst2.splits) == {"train", "test"}
    assert sst2.splits["test"].hub_split == "validation" and sst2.splits["test"].local == "SST-2/dev.tsv"
    assert (sst2.validation_from_train.fraction, sst2.validation_from_train.seed) == (0.05, 1234)
    assert registry["snli"].text == ["premise", "hypothesis"] and registry["snli"].is_pair


def test_get_task_suggests_the_closest_name(registry):
    assert get_task("snli", registry).name == "snli"
    with pytest.raises(HarnessError, match=r"unknown task 'miam-lorai' \(did you mean 'miam-loria'\?\)"):
        get_task("miam-lorai", registry)
    with pytest.raises(HarnessError, match=r"unknown task 'sst-2' \(did you mean 'sst2'\?\)"):
        get_task("sst-2", registry)


def test_user_tasks_dir_adds_a_task(tmp_path):
    write_spec(tmp_path / "mine", [TOY_SPEC])
    registry = load_registry([tmp_path / "mine"])
    assert len(registry) == 19
    assert registry["toy"].spec_file == str(tmp_path / "mine" / "toy.yaml")
    # The built-in folder passed again is not read twice (no false duplicate).
    assert len(load_registry([REPO / "tasks"])) == 18


def test_tasks_dir_from_environment(tmp_path, monkeypatch):
    write_spec(tmp_path / "env", [TOY_SPEC])
    monkeypatch.setenv("HARNESS_TASKS_DIR", str(tmp_path / "env"))
    assert "toy" in load_registry()


# --------------------------------------------------------------------------- spec validation
def test_misspelt_field_names_file_field_and_suggestion(tmp_path):
    entry = {k: v for k, v in TOY_SPEC.items() if k != "labels"} | {"lables": ["negative", "positive"]}
    path = write_spec(tmp_path, [entry])
    with pytest.raises(SpecError) as info:
        parse_family_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: task 'toy': ")
    assert "field 'lables': unknown field (did you mean 'labels'?)" in message
    assert "field 'labels': required field is missing" in message


def test_misspelt_nested_field_suggests_from_its_own_level(tmp_path):
    entry = TOY_SPEC | {"splits": {"train": {"locl": "a.csv"}, "validation": {}, "test": {}}}
    path = write_spec(tmp_path, [entry])
    with pytest.raises(SpecError, match=r"field 'splits\.train\.locl': unknown field \(did you mean 'local'\?\)"):
        parse_family_file(path)
    entry = TOY_SPEC | {"splits": {"train": {}, "test": {}}, "validation_from_train": {"fraction": 0.1, "sed": 3}}
    path = write_spec(tmp_path, [entry])
    with pytest.raises(SpecError) as info:
        parse_family_file(path)
    assert "field 'validation_from_train.sed': unknown field (did you mean 'seed'?)" in str(info.value)
    assert "field 'validation_from_train.seed': required field is missing" in str(info.value)


def test_missing_field_is_named(tmp_path):
    entry = {k: v for k, v in TOY_SPEC.items() if k != "language"}
    path = write_spec(tmp_path, [entry])
    with pytest.raises(SpecError) as info:
        parse_family_file(path)
    assert str(info.value) == f"{path}: task 'toy': field 'language': required field is missing"


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"reader": "jsonlines"}, "field 'reader': unknown reader 'jsonlines' (did you mean 'jsonl'?)"),
        ({"labels": ["positive", "positive"]}, "field 'labels': duplicate label names: ['positive']"),
        ({"labels": ["only"]}, "field 'labels'"),
        ({"splits": {"train": {}, "test": {}}}, "splits: missing ['validation'] (or set validation_from_train)"),
        ({"name": "Toy Task"}, "field 'name'"),
        ({"training": {"lerning_rate": 1e-4}}, "unknown hyperparameter 'lerning_rate' (did you mean 'learning_rate'?)"),
        ({"validation_from_train": {"fraction": 0.2, "seed": 1}}, "give either splits.validation or validation_from_train"),
        ({"description": "Split {subset}"}, "placeholder {subset} has no value in 'vars'"),
        ({"vars": ["books"]}, "field 'vars' must be a mapping"),
    ],
)
def test_bad_task_entries(tmp_path, change, expected):
    entry = TOY_SPEC | change
    if "vars" in change:
        entry["description"] = "Split {subset}"
    path = write_spec(tmp_path, [entry])
    with pytest.raises(SpecError) as info:
        parse_family_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_bad_family_files(tmp_path):
    path = write_spec(tmp_path, [TOY_SPEC], defaults={"language": "en"}, filename="a.yaml")
    path.write_text(path.read_text().replace("defaults:", "defualts:"))
    with pytest.raises(SpecError, match=r"unknown top-level field 'defualts' \(did you mean 'defaults'\?\)"):
        parse_family_file(path)
    empty = write_spec(tmp_path, [], filename="b.yaml")
    with pytest.raises(SpecError, match=r"field 'tasks' is missing or empty"):
        parse_family_file(empty)
    broken = tmp_path / "c.yaml"
    broken.write_text("family: x\ntasks: [\n")
    with pytest.raises(SpecError, match=r"c\.yaml: not valid YAML"):
        parse_family_file(broken)
    bad_defaults = write_spec(tmp_path, [TOY_SPEC], defaults=["en"], filename="d.yaml")
    with pytest.raises(SpecError, match=r"d\.yaml: field 'defaults' must be a mapping"):
        parse_family_file(bad_defaults)


def test_vars_fill_placeholders_from_the_defaults(tmp_path):
    defaults = {"splits": {"train": {"local": "corpus/{part}/train.csv"}, "validation": {}, "test": {}}}
    entries = [
        {k: v for k, v in TOY_SPEC.items() if k != "splits"} | {"name": f"toy-{p}", "vars": {"part": p}}
        for p in ("a", "b")
    ]
    path = write_spec(tmp_path, entries, defaults=defaults)
    specs = parse_family_file(path)
    assert [s.splits["train"].local for s in specs] == ["corpus/a/train.csv", "corpus/b/train.csv"]


def test_duplicate_task_name_across_two_folders(tmp_path):
    first = write_spec(tmp_path / "one", [TOY_SPEC], family="alpha")
    second = write_spec(tmp_path / "two", [TOY_SPEC], family="beta")
    with pytest.raises(SpecError) as info:
        load_registry([tmp_path / "one", tmp_path / "two"])
    assert str(info.value) == f"task 'toy' is defined twice: in {first} and in {second}; rename one"


def test_user_task_may_not_shadow_a_builtin(tmp_path):
    path = write_spec(tmp_path, [TOY_SPEC | {"name": "sst2"}])
    with pytest.raises(SpecError) as info:
        load_registry([tmp_path])
    assert str(info.value) == f"task 'sst2' is defined twice: in {REPO / 'tasks' / 'glue.yaml'} and in {path}; rename one"


def test_missing_tasks_dir(tmp_path):
    with pytest.raises(SpecError, match=r"tasks folder .*nowhere does not exist"):
        load_registry([tmp_path / "nowhere"])


# --------------------------------------------------------------------------- upstream layouts
def test_fixture_files_keep_their_bom_and_crlf():
    """The edge cases are in the bytes: a checkout that normalises line ends would hide them."""
    assert (FIXTURES / "SST-2/dev.tsv").read_bytes().startswith(b"\xef\xbb\xbfsentence\tlabel\r\n")
    assert (FIXTURES / "MIAM/loria/test.csv").read_bytes().startswith(b"\xef\xbb\xbfSpeaker,")
    assert (FIXTURES / "snli_1.0/snli_1.0_dev.jsonl").read_bytes().startswith(b"\xef\xbb\xbf{")
    train = (FIXTURES / "MIAM/loria/train.csv").read_bytes()
    assert train.count(b"\r\n") == 13 and train.count(b"\n") == 13
    assert b"\r" not in (FIXTURES / "SST-2/train.tsv").read_bytes()


def test_sst2_upstream_tsv(registry):
    data = fixture_task("sst2")
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 19, "validation": 1, "test": 8}
    # GLUE validation (dev.tsv, with a BOM and CRLF) is the harness's test split, unchanged.
    assert rows(data.splits["test"], "sentence", "label") == SST2_DEV
    # Train + the carved validation split are exactly the rows of train.tsv, quotes untouched.
    both = rows(data.splits["train"], "sentence", "label") + rows(data.splits["validation"], "sentence", "label")
    assert sorted(both) == sorted(SST2_TRAIN)
    assert data.files["test"] == str(FIXTURES / "SST-2/dev.tsv")
    assert data.files["train"] == str(FIXTURES / "SST-2/train.tsv")
    assert data.files["validation"] == "5% of train, seed 1234, not stratified (too few rows per label)"
    assert data.label_counts("test") == {"negative": 3, "positive": 5}
    assert data.splits["train"].features["label"].names == ["negative", "positive"]


def test_sst2_carve_out_follows_the_spec_seed(registry):
    data = fixture_task("sst2")
    again = load_task(registry["sst2"], FIXTURES)
    assert rows(again.splits["validation"]) == rows(data.splits["validation"])
    assert rows(again.splits["train"]) == rows(data.splits["train"])
    assert again.fingerprint == data.fingerprint
    # ceil(0.05 * 20) = 1 row; which one is fixed by seed 1234 (a numpy PCG64 permutation).
    order = np.random.default_rng(1234).permutation(20)
    assert order[0] == 3
    assert rows(data.splits["validation"], "sentence", "label") == [SST2_TRAIN[3]]
    assert rows(data.splits["train"], "sentence", "label") == [SST2_TRAIN[i] for i in order[1:]]


def test_sst2_carve_out_sizes_on_a_larger_train(tmp_path, registry):
    sentences = [f"review number {i} , with a comma and a \" quote ." for i in range(60)]
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "train.tsv").write_text(
        "sentence\tlabel\n" + "".join(f"{s}\t{i % 2}\n" for i, s in enumerate(sentences)), encoding="utf-8"
    )
    shutil.copy(FIXTURES / "SST-2/dev.tsv", folder / "dev.tsv")
    data = load_task(registry["sst2"], tmp_path)
    validation = [s for (s,) in rows(data.splits["validation"], "sentence")]
    train = [s for (s,) in rows(data.splits["train"], "sentence")]
    assert (len(train), len(validation)) == (57, 3)  # ceil(0.05 * 60) = 3
    assert not set(train) & set(validation)
    assert sorted(train + validation) == sorted(sentences)
    # stratified by label: 30 rows of each label, so the 3 validation rows hold both labels
    assert sorted(col(data.splits["validation"], "label")) in ([0, 0, 1], [0, 1, 1])
    assert data.files["validation"] == "5% of train, seed 1234, stratified by label"
    assert rows(load_task(registry["sst2"], tmp_path).splits["validation"], "sentence") == [(s,) for s in validation]


def test_snli_upstream_jsonl_drops_no_gold_label():
    data = fixture_task("snli")
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 11, "validation": 6, "test": 5}
    assert col(data.splits["train"], "label") == [0, 2, 1, 0, 2, 1, 0, 2, 0, 1, 2]
    assert col(data.splits["validation"], "label") == [0, 2, 1, 0, 2, 1]
    assert col(data.splits["test"], "label") == [0, 2, 0, 2, 1]
    hypotheses = col(data.splits["train"], "hypothesis") + col(data.splits["test"], "hypothesis")
    assert "The woman is waiting for her grandson." not in hypotheses  # gold '-'
    assert "The fence belongs to her neighbor." not in hypotheses  # gold '-'
    assert rows(data.splits["train"])[8] == (
        'A chef tosses a pancake high above a "cast-iron" pan.', "Someone is cooking.", 0
    )
    assert col(data.splits["validation"], "premise")[3] == "Three musicians play violins outside a small café."
    assert data.label_counts("train") == {"entailment": 4, "neutral": 3, "contradiction": 4}
    assert set(data.splits["train"].column_names) == {"premise", "hypothesis", "label"}


def test_miam_loria_upstream_csv():
    data = fixture_task("miam-loria")
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 12, "validation": 6, "test": 6}
    assert rows(data.splits["train"], "Utterance", "label") == [
        ("Bonjour, je suis Lucas. Que puis-je faire pour vous ?", 5),
        ("Bonjour !", 5),
        ("Je cherche le plan de la pièce.", 3),
        ("Le plan est dans le bureau, à gauche.", 7),
        ("D'accord.", 0),
        ('Il a dit "attends" puis il est parti', 19),
        ("Voulez-vous que je répète ?", 22),
        ("oui", 30),
        ("Euh...", 19),
        ("Quelle est la prochaine étape ?", 1),
        ("non", 18),
        ("Merci, au revoir.", 21),
    ]
    assert rows(data.splits["validation"], "Utterance", "label") == [
        ("Bienvenue dans l'usine.", 5),
        ("Où est le moule, s'il vous plaît ?", 2),
        ("Il faut d'abord\nvérifier la machine.", 4),  # a newline inside a quoted field
        ("Merci beaucoup", 15),
        ("Et ensuite ?", 17),
        ("Aidez-moi", 6),
    ]
    assert rows(data.splits["test"], "Utterance", "label") == [
        ("Salut", 5),
        ('Vous devez peindre la pièce en "bleu nuit", comme prévu.', 7),
        ("oui", 30),
        ("Hmm", 0),  # a quoted utterance
        ("Je ne comprends pas.", 19),
        ("Au revoir", 21),
    ]
    # The label set comes from the spec, never from a split: 31 names everywhere, zeros included.
    for split in ("train", "validation", "test"):
        assert data.splits[split].features["label"].names == LORIA_ACTS
    counts = data.label_counts("validation")
    assert len(counts) == 31 and sum(counts.values()) == 6 and counts["yes"] == 0 and counts["find_mold"] == 1
    assert data.splits["train"].column_names == ["Utterance", "label"]


def test_miam_vm2_column_order_is_read_by_name():
    data = fixture_task("miam-vm2")
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 10, "validation": 4, "test": 5}
    assert rows(data.splits["train"], "Utterance", "label")[:4] == [
        ("Guten Tag Herr Schmidt", 16),
        ("wann hätten Sie denn Zeit, vielleicht nächste Woche ?", 28),
        ("am Dienstag ginge es bei mir", 29),
        ("Dienstag, das passt gut", 0),
    ]
    assert col(data.splits["train"], "label") == [16, 28, 29, 0, 29, 23, 29, 14, 30, 2]
    assert col(data.splits["validation"], "label") == [16, 17, 0, 2]
    assert rows(data.splits["test"], "Utterance", "label") == [
        ("guten Morgen", 16),
        ('sagen wir "nach dem Mittagessen" ?', 29),
        ("ähm", 20),
        ("das geht nicht", 23),
        ("danke schön", 30),
    ]


def test_flue_cls_upstream_review_xml():
    data = fixture_task("flue-cls-books")
    assert {name: len(ds) for name, ds in data.splits.items()} == {"train": 8, "validation": 2, "test": 10}
    both = rows(data.splits["train"], "text", "label") + rows(data.splits["validation"], "text", "label")
    assert sorted(both) == sorted(CLS_BOOKS_TRAIN)  # every item; &amp; &quot; unescaped; 3 stars negative
    # Seeded 20% carve-out, stratified: ceil(0.2 * 10) = 2 items, one of each label.
    assert sorted(col(data.splits["validation"], "label")) == [0, 1]
    assert data.files["validation"] == "20% of train, seed 42, stratified by label"
    assert col(data.splits["test"], "label") == [1, 1, 0, 1, 0, 1, 0, 1, 1, 1]
    assert col(data.splits["test"], "text")[1] == (
        "Une fresque historique d'une rare ampleur, documentée & passionnante du début à la fin."
    )
    assert col(data.splits["test"], "text")[4] == "Des conseils évidents, répétés sur trois cents pages <sic>. Dommage."
    assert data.warnings == {"train": "10 rows, the full upstream split has 2000",
                             "test": "10 rows, the full upstream split has 2000"}


def test_describe_task_structure():
    described = describe_task(fixture_task("flue-cls-books"))
    assert described["task"] == "flue-cls-books"
    assert described["labels"] == ["negative", "positive"]
    assert list(described["splits"]) == ["train", "validation", "test"]
    assert {k: (v["rows"], v["label_counts"]) for k, v in described["splits"].items()} == {
        "train": (8, {"negative": 3, "positive": 5}),
        "validation": (2, {"negative": 1, "positive": 1}),
        "test": (10, {"negative": 3, "positive": 7}),
    }
    json.dumps(described)  # serialisable as it is


def test_data_dir_from_environment(monkeypatch, registry):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(FIXTURES))
    data = load_task(registry["miam-vm2"])
    assert data.files["test"] == str(FIXTURES / "MIAM/vm2/test.csv")
    assert len(data.splits["test"]) == 5


# --------------------------------------------------------------------------- generic layout
def test_generic_layout_sst2_uses_hub_split_names(tmp_path, registry):
    folder = tmp_path / "sst2"
    folder.mkdir()
    # .tsv of the generic layout: standard CSV quoting (as pandas writes it).
    (folder / "train.tsv").write_text(
        "idx\tsentence\tlabel\n"
        + "".join(f"{i}\tplain sentence {i}\t{i % 2}\n" for i in range(18))
        + '18\t"a ""quoted"" one"\t1\n19\tno gold label\t-1\n',
        encoding="utf-8",
    )
    # CRLF line ends with the text as the last column: no stray carriage return may stick to it.
    (folder / "validation.csv").write_bytes(
        b'idx,label,sentence\r\n0,1,"good, really good"\r\n1,0,bad\r\n2,positive,"""fine"" they said"\r\n'
    )
    data = load_task(registry["sst2"], tmp_path)
    assert data.files["train"] == str(folder / "train.tsv")
    assert data.files["test"] == str(folder / "validation.csv")
    assert rows(data.splits["test"], "sentence", "label") == [
        ("good, really good", 1), ("bad", 0), ('"fine" they said', 1)
    ]
    train = rows(data.splits["train"], "sentence", "label") + rows(data.splits["validation"], "sentence", "label")
    assert len(train) == 19  # the -1 row is dropped
    assert ('a "quoted" one', 1) in train and all(s != "no gold label" for s, _ in train)


def test_generic_layout_parquet_jsonl_csv(tmp_path, registry):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "snli"
    folder.mkdir()
    pq.write_table(
        pa.table({
            "premise": ["A cat sleeps on a warm windowsill.", "A cat sleeps on a warm windowsill.", "Kids build a sandcastle."],
            "hypothesis": ["An animal is resting.", "The cat is chasing a mouse.", "Children are at the beach."],
            "label": [0.0, -1.0, 0.0],  # a float column (as pandas writes one with missing values)
        }),
        folder / "train.parquet",
    )
    write_jsonl(folder / "validation.jsonl", [
        {"premise": "A man sings, loudly.", "hypothesis": "Someone is singing.", "label": 0},
        {"premise": "A man sings, loudly.", "hypothesis": "The man is silent.", "label": "contradiction"},
    ])
    (folder / "test.csv").write_text(
        "premise,hypothesis,label\n\"Two dogs, one ball.\",Dogs are playing.,1\n", encoding="utf-8"
    )
    data = load_task(registry["snli"], tmp_path)
    assert rows(data.splits["train"]) == [
        ("A cat sleeps on a warm windowsill.", "An animal is resting.", 0),
        ("Kids build a sandcastle.", "Children are at the beach.", 0),
    ]
    assert col(data.splits["validation"], "label") == [0, 2]
    assert rows(data.splits["test"]) == [("Two dogs, one ball.", "Dogs are playing.", 1)]
    assert data.files == {split: str(folder / f"{split}.{ext}") for split, ext in
                          (("train", "parquet"), ("validation", "jsonl"), ("test", "csv"))}


def test_upstream_layout_comes_before_the_generic_one(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/vm2")
    write_jsonl(data_dir / "miam-vm2" / "train.jsonl", [{"Utterance": "ja", "Dialogue_Act": "ACCEPT"}] * 3)
    data = load_task(registry["miam-vm2"], data_dir)
    assert data.files["train"] == str(data_dir / "MIAM/vm2/train.csv")
    assert len(data.splits["train"]) == 10
    (data_dir / "MIAM/vm2/train.csv").unlink()
    data = load_task(registry["miam-vm2"], data_dir)
    assert data.files["train"] == str(data_dir / "miam-vm2" / "train.jsonl")
    assert rows(data.splits["train"]) == [("ja", 0)] * 3


def test_user_task_in_generic_layout(tmp_path):
    write_spec(tmp_path / "mine", [TOY_SPEC])
    for split, n in (("train", 4), ("validation", 2), ("test", 3)):
        write_jsonl(tmp_path / "data" / "toy" / f"{split}.jsonl",
                    [{"sentence": f"{split} {i}", "label": i % 2, "extra": True} for i in range(n)])
    spec = load_registry([tmp_path / "mine"])["toy"]
    data = load_task(spec, tmp_path / "data")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 4, "validation": 2, "test": 3}
    assert col(data.splits["test"], "label") == [0, 1, 0]
    assert data.warnings == {}


# --------------------------------------------------------------------------- demo tasks
@pytest.mark.parametrize("name", DEMO_TASKS)
def test_demo_tasks_load_from_their_bundled_files(name, registry, tmp_path):
    spec = registry[name]
    files = [Path(spec.spec_dir) / source.bundled for source in spec.splits.values()]
    absent = [str(f.relative_to(REPO)) for f in files if not f.is_file()]
    if absent:
        pytest.skip(f"the demo data of {name} is not written yet: {', '.join(absent)} missing")
    data = load_task(spec)  # no data dir: the bundled files, no network
    again = load_task(spec, tmp_path)  # an empty data dir falls back to the bundled files
    assert again.fingerprint == data.fingerprint
    assert list(data.splits) == ["train", "validation", "test"]
    for split, ds in data.splits.items():
        assert len(ds) > 0, split
        assert ds.features["label"].names == spec.labels
        assert all(0 <= label < len(spec.labels) for label in col(ds, "label"))
        for column in spec.text:
            assert all(isinstance(t, str) for t in col(ds, column))


# --------------------------------------------------------------------------- bad data
def test_unknown_label_names_the_file_and_line(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/loria")
    path = data_dir / "MIAM/loria/train.csv"
    with open(path, "ab") as handle:
        handle.write(b"Joueur,Bonjour encore,bonjour_act,5,loria_005\r\n")
    with pytest.raises(DataError) as info:
        load_task(registry["miam-loria"], data_dir)
    message = str(info.value)
    assert message.startswith(f"{path}, line 14: unknown label 'bonjour_act'")
    assert "the spec of 'miam-loria' lists 31 labels" in message


def test_unknown_label_suggests_a_close_act(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/vm2")
    path = data_dir / "MIAM/vm2/dev.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",INFORM,", ",INFROM,"), encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.csv, line 3: unknown label 'INFROM' \(did you mean 'INFORM'\?\)"):
        load_task(registry["miam-vm2"], data_dir)


def test_label_id_out_of_range(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "SST-2")
    path = data_dir / "SST-2/train.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace("back .\t0", "back .\t2"), encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.tsv, line 3: label id 2 is outside 0\.\.1"):
        load_task(registry["sst2"], data_dir)


def test_missing_label_value_is_an_error(tmp_path):
    write_spec(tmp_path / "mine", [TOY_SPEC])
    folder = tmp_path / "data" / "toy"
    write_jsonl(folder / "train.jsonl", [{"sentence": "a", "label": 1}, {"sentence": "b", "label": None}])
    write_jsonl(folder / "validation.jsonl", [{"sentence": "c", "label": 0}])
    write_jsonl(folder / "test.jsonl", [{"sentence": "d", "label": 1.5}])
    spec = load_registry([tmp_path / "mine"])["toy"]
    with pytest.raises(DataError, match=r"train\.jsonl, line 2: no label in column 'label'"):
        load_task(spec, tmp_path / "data")
    write_jsonl(folder / "train.jsonl", [{"sentence": "a", "label": 1}])
    with pytest.raises(DataError, match=r"test\.jsonl, line 1: unknown label 1\.5"):
        load_task(spec, tmp_path / "data")


def test_missing_column_is_named(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/vm2")
    path = data_dir / "MIAM/vm2/test.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Dialogue_Act", "Dialog_Act", 1), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_task(registry["miam-vm2"], data_dir)
    assert str(info.value) == (
        f"{path}: missing column(s) ['Dialogue_Act']; the file has ['Utterance', 'Dialog_Act', 'Speaker', 'Dialogue_ID']"
    )


def test_missing_jsonl_field_names_the_line(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "snli_1.0")
    path = data_dir / "snli_1.0/snli_1.0_test.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    del record["sentence2"]
    lines[3] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"snli_1\.0_test\.jsonl, line 4: missing field\(s\) \['sentence2'\]"):
        load_task(registry["snli"], data_dir)


def test_missing_file_lists_the_paths_tried(tmp_path, registry):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(DataError) as info:
        load_task(registry["sst2"], data_dir)
    tried = [data_dir / "SST-2/train.tsv", Path(registry["sst2"].spec_dir) / "SST-2/train.tsv"] + [data_dir / "sst2" / f"train.{e}" for e in ("parquet", "jsonl", "csv", "tsv")]
    assert str(info.value) == f"task 'sst2': no file for split 'train'; tried: {', '.join(map(str, tried))}"
    # Train present, test missing: the test split's own paths (GLUE validation = dev.tsv).
    (data_dir / "SST-2").mkdir()
    shutil.copy(FIXTURES / "SST-2/train.tsv", data_dir / "SST-2/train.tsv")
    with pytest.raises(DataError, match=r"no file for split 'test'; tried: .*SST-2/dev\.tsv, .*sst2/validation\.parquet"):
        load_task(registry["sst2"], data_dir)


def test_missing_data_dir_is_pointed_out(tmp_path, registry):
    with pytest.raises(DataError, match=r"--data-dir .*nowhere does not exist; give the folder that holds the task files"):
        load_task(registry["miam-loria"], tmp_path / "nowhere")


def test_empty_split_is_an_error(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/loria")
    path = data_dir / "MIAM/loria/dev.csv"
    path.write_text("Speaker,Utterance,Dialogue_Act,Dialogue_ID,File_ID\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_task(registry["miam-loria"], data_dir)
    assert str(info.value) == f"task 'miam-loria': split 'validation' is empty after reading {path}"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.csv: the file is empty \(no header row\)"):
        load_task(registry["miam-loria"], data_dir)


def test_split_with_only_dropped_rows_is_empty(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "snli_1.0")
    path = data_dir / "snli_1.0/snli_1.0_dev.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines()]
    write_jsonl(path, [r | {"gold_label": "-"} for r in records])
    with pytest.raises(DataError, match=r"split 'validation' is empty after reading .*snli_1\.0_dev\.jsonl"):
        load_task(registry["snli"], data_dir)


def test_too_few_rows_to_carve_a_validation_split(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "SST-2")
    (data_dir / "SST-2/train.tsv").write_text("sentence\tlabel\nonly one row .\t1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train has 1 row\(s\), too few to carve a 5% validation split"):
        load_task(registry["sst2"], data_dir)


def test_malformed_rows(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/loria")
    path = data_dir / "MIAM/loria/test.csv"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("Joueur,Oui, bien sûr,yes,4,loria_004\n")  # an unquoted comma: 6 fields
    with pytest.raises(DataError, match=r"test\.csv, line 8: 6 field\(s\), the header has 5 \(a text holding"):
        load_task(registry["miam-loria"], data_dir)
    path.write_text("Speaker,Utterance,Dialogue_Act,Dialogue_ID,File_ID\nJoueur,oui,yes\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.csv, line 2: 3 field\(s\), the header has 5"):
        load_task(registry["miam-loria"], data_dir)


def test_row_numbers_point_at_the_first_line_of_a_record(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/loria")
    path = data_dir / "MIAM/loria/dev.csv"
    # The multi-line record spans lines 4-5; an unknown act after it is on line 6.
    path.write_text(path.read_text(encoding="utf-8").replace("kindAtt", "kind_att"), encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.csv, line 6: unknown label 'kind_att'"):
        load_task(registry["miam-loria"], data_dir)


def test_not_utf8_and_not_json(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "MIAM/vm2")
    path = data_dir / "MIAM/vm2/train.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.csv, line \d+: not UTF-8 text"):
        load_task(registry["miam-vm2"], data_dir)
    data_dir = copy_fixture(tmp_path, "snli_1.0")
    path = data_dir / "snli_1.0/snli_1.0_train.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"snli_1\.0_train\.jsonl, line 3: not valid JSON"):
        load_task(registry["snli"], data_dir)


def test_bad_review_xml(tmp_path, registry):
    data_dir = copy_fixture(tmp_path, "cls-acl10-unprocessed")
    path = data_dir / "cls-acl10-unprocessed/fr/books/test.review"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("<rating>5.0</rating>", "", 1), encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.review, item 2: missing <text> or <rating>"):
        load_task(registry["flue-cls-books"], data_dir)
    path.write_text(text.replace("<rating>5.0</rating>", "<rating>five</rating>", 1), encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.review, item 2: rating 'five' is not a number"):
        load_task(registry["flue-cls-books"], data_dir)
    path.write_text(text.replace("</items>", ""), encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.review: not valid XML"):
        load_task(registry["flue-cls-books"], data_dir)


def test_readers_registry_is_explicit():
    xnli = [f"xnli_{lang}" for lang in ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")]
    assert sorted(READERS) == sorted([
        "cls_review", "csv", "glue_tsv", "jsonl", "parquet", "snli_jsonl", "tsv",
        "xnli_mt_tsv", "allocine_jsonl", "acl_imdb", *xnli,
    ])


# --------------------------------------------------------------------------- command line
def test_cli_tasks_lists_every_task(capsys):
    code, out, err = run_cli(capsys, "tasks", "--format", "json")
    assert code == 0 and err == ""
    tasks = {t["name"]: t for t in json.loads(out)}
    assert set(tasks) == {n for names in REAL_TASKS.values() for n in names} | set(DEMO_TASKS)
    assert tasks["sst2"]["source"] == "hub:nyu-mll/glue/sst2" and tasks["sst2"]["input"] == "single"
    assert tasks["snli"]["input"] == "pair" and tasks["snli"]["source"] == "hub:stanfordnlp/snli/plain_text"
    assert len(tasks["miam-loria"]["labels"]) == 31 and tasks["miam-loria"]["source"].startswith("url:raw.githubusercontent.com")
    assert tasks["flue-cls-music"]["source"] == "url:zenodo.org"
    assert tasks["demo-nli-en"]["source"] == "bundled"
    code, out, err = run_cli(capsys, "tasks")  # the table: every task on a line of its own
    names = {line.split()[0] for line in out.splitlines()[2:] if line.strip() and not line.startswith(" ")}
    assert names == set(tasks)


def test_cli_tasks_with_a_user_folder(tmp_path, capsys):
    write_spec(tmp_path / "mine", [TOY_SPEC])
    code, out, _ = run_cli(capsys, "--tasks-dir", str(tmp_path / "mine"), "tasks")
    assert code == 0
    assert any(line.startswith("toy ") for line in out.splitlines())


def test_cli_tasks_show_json(capsys):
    code, out, err = run_cli(capsys, "tasks", "show", "miam-loria", "--data-dir", str(FIXTURES))
    assert code == 0
    shown = json.loads(out)
    assert shown["task"] == "miam-loria"
    assert shown["labels"] == LORIA_ACTS
    assert {k: v["rows"] for k, v in shown["splits"].items()} == {"train": 12, "validation": 6, "test": 6}
    train = shown["splits"]["train"]["label_counts"]
    assert list(train) == LORIA_ACTS
    assert {k: n for k, n in train.items() if n} == {
        "ack": 1, "ask": 1, "find_plans": 1, "greet": 2, "inform": 1, "no": 1, "other": 2, "quit": 1,
        "reqRep": 1, "yes": 1,
    }
    code, out, _ = run_cli(capsys, "tasks", "show", "sst2", "--data-dir", str(FIXTURES))
    shown = json.loads(out)
    assert {k: (v["rows"], v["label_counts"]) for k, v in shown["splits"].items()} == {
        "train": (19, {"negative": 9, "positive": 10}),
        "validation": (1, {"negative": 0, "positive": 1}),
        "test": (8, {"negative": 3, "positive": 5}),
    }


def test_cli_unknown_task(capsys):
    code, out, err = run_cli(capsys, "tasks", "show", "miam-lorai", "--data-dir", str(FIXTURES))
    assert code == 2 and out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert err.startswith("harness: error: unknown task 'miam-lorai' (did you mean 'miam-loria'?)")


def test_cli_missing_file(tmp_path, capsys):
    code, out, err = run_cli(capsys, "tasks", "show", "snli", "--data-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"harness: error: task 'snli': no file for split 'train'; tried: {tmp_path}/snli_1.0/snli_1.0_train.jsonl, ")


def test_cli_unknown_label(tmp_path, capsys):
    data_dir = copy_fixture(tmp_path, "MIAM/vm2")
    path = data_dir / "MIAM/vm2/train.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",BYE,", ",CIAO,"), encoding="utf-8")
    code, _, err = run_cli(capsys, "tasks", "show", "miam-vm2", "--data-dir", str(data_dir))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"harness: error: {path}, line 11: unknown label 'CIAO'")


def test_cli_bad_spec(tmp_path, capsys):
    entry = {k: v for k, v in TOY_SPEC.items() if k != "reader"} | {"reder": "jsonl"}
    path = write_spec(tmp_path / "mine", [entry])
    code, out, err = run_cli(capsys, "--tasks-dir", str(tmp_path / "mine"), "tasks")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"harness: error: {path}: task 'toy': ")
    assert "field 'reader': required field is missing" in err
    assert "field 'reder': unknown field (did you mean 'reader'?)" in err


def test_cli_missing_tasks_dir(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--tasks-dir", str(tmp_path / "nowhere"), "tasks")
    assert code == 2 and err == f"harness: error: tasks folder {tmp_path / 'nowhere'} does not exist\n"


# --------------------------------------------------------------------------- no network
def test_local_loading_never_touches_the_network(monkeypatch, capsys, registry):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched while loading local files")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    sizes = {}
    for name in ("sst2", "snli", "miam-loria", "miam-vm2", "flue-cls-books"):
        data = load_task(registry[name], FIXTURES)
        sizes[name] = sum(len(ds) for ds in data.splits.values())
    assert sizes == {"sst2": 28, "snli": 22, "miam-loria": 24, "miam-vm2": 19, "flue-cls-books": 20}
    monkeypatch.setenv("HARNESS_DATA_DIR", str(FIXTURES))
    code, out, _ = run_cli(capsys, "tasks", "show", "snli")
    assert code == 0 and json.loads(out)["splits"]["test"]["rows"] == 5
