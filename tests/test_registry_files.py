"""--models-file and --suites-file add to the packaged registries; a name defined twice names both files."""
from __future__ import annotations

import json

import yaml

from harness.cli.main import main
from harness.spec.models import BUILTIN_MODELS_FILE, load_models
from harness.spec.suites import load_suites
from helpers import write_models_file


def _suites_file(path, names):
    path.write_text(yaml.safe_dump({"suites": [{"name": n, "tasks": ["demo-nli-en"], "models": ["minilm-l6"], "seeds": 1}
                                               for n in names]}))
    return path


def test_models_files_add_to_the_packaged_models_and_to_each_other(tmp_path, capsys):
    a = write_models_file(tmp_path / "a.yaml", [{"name": "mine-a", "source": "org/a"}])
    b = write_models_file(tmp_path / "b.yaml", [{"name": "mine-b", "source": "org/b"}])
    assert main(["--models-file", str(a), "models", "--models-file", str(b), "--format", "json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert {"minilm-l6", "camembert-base", "mine-a", "mine-b"} <= set(names)
    assert names.index("mine-a") < names.index("mine-b")


def test_a_model_defined_in_the_packaged_file_and_a_models_file_names_both(tmp_path, capsys):
    mine = write_models_file(tmp_path / "mine.yaml", [{"name": "minilm-l6", "source": "org/other"}])
    assert main(["--models-file", str(mine), "models"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(mine) in err and str(BUILTIN_MODELS_FILE.resolve()) in err and "'minilm-l6'" in err


def test_a_model_defined_in_two_models_files_names_both(tmp_path, capsys):
    a = write_models_file(tmp_path / "a.yaml", [{"name": "twin", "source": "org/a"}])
    b = write_models_file(tmp_path / "b.yaml", [{"name": "twin", "source": "org/b"}])
    assert main(["--models-file", str(a), "--models-file", str(b), "models"]) == 2
    err = capsys.readouterr().err
    assert str(a) in err and str(b) in err and "rename one" in err


def test_each_models_file_defaults_apply_to_its_own_models(tmp_path):
    mine = write_models_file(tmp_path / "mine.yaml", [{"name": "mine", "source": "org/m"}], defaults={"batch_size": 4})
    registry = load_models([str(mine)])
    assert registry.defaults_layer("mine") == ({"batch_size": 4}, f"{mine}: defaults")
    assert registry.defaults_layer("mine@long")[0] == {"batch_size": 4}  # a variant takes its model's file
    packaged, where = registry.defaults_layer("minilm-l6")
    assert packaged["batch_size"] == 16 and where.startswith(str(BUILTIN_MODELS_FILE.resolve()))


def test_models_file_variable_holds_several_files(tmp_path, monkeypatch):
    a = write_models_file(tmp_path / "a.yaml", [{"name": "env-a", "source": "org/a"}])
    b = write_models_file(tmp_path / "b.yaml", [{"name": "env-b", "source": "org/b"}])
    monkeypatch.setenv("HARNESS_MODELS_FILE", f"{a}:{b}")
    assert {"env-a", "env-b", "minilm-l6"} <= set(load_models().models)


def test_suites_files_add_to_the_packaged_suites(tmp_path, monkeypatch, capsys):
    one = _suites_file(tmp_path / "one.yaml", ["mine-one"])
    two = _suites_file(tmp_path / "two.yaml", ["mine-two"])
    monkeypatch.setenv("HARNESS_SUITES_FILE", str(one))
    assert {"demo", "mine-one"} <= set(load_suites())
    assert main(["suites", "--suites-file", str(two), "--format", "json"]) == 0
    assert {"demo", "mine-two"} <= {s["name"] for s in json.loads(capsys.readouterr().out)}


def test_a_suite_defined_twice_names_both_files(tmp_path, capsys):
    mine = _suites_file(tmp_path / "mine.yaml", ["demo"])
    assert main(["--suites-file", str(mine), "suites"]) == 2
    err = capsys.readouterr().err
    assert str(mine) in err and "suites.yaml" in err and "'demo'" in err


def test_a_suite_from_a_suites_file_plans(tmp_path, capsys):
    mine = _suites_file(tmp_path / "mine.yaml", ["mine-smoke"])
    assert main(["run", "--suites-file", str(mine), "--suite", "mine-smoke", "--dry-run", "--format", "json",
                 "--results", str(tmp_path / "r")]) == 0
    assert "demo-nli-en" in capsys.readouterr().out
