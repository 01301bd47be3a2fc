"""The command line explains itself: help, examples, exit codes, version, recipe keys, global
options on either side of the command, tables that fit 100 columns, JSON for every listing."""
from __future__ import annotations

import argparse
import json

import pytest

from harness import __version__
from harness.cli.parser import build_parser, parse_args
from harness.cli.main import main
from harness.spec.recipe import Recipe


def subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from subparsers(sub)


def test_help_has_description_examples_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Heavy libraries" not in out
    assert "Fine-tune pretrained transformer encoders" in out
    assert "examples:" in out and "harness run --suite demo" in out
    assert "exit codes:" in out and "2  unusable input" in out
    for command in ("tasks", "models", "suites", "recipe", "run", "leaderboard", "compare", "report", "predict", "push"):
        assert command in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"harness {__version__}"


def test_every_option_has_help_and_every_valued_option_a_metavar():
    parser = build_parser()
    for name, sub in [("harness", parser), *subparsers(parser)]:
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
            takes_value = action.nargs != 0 and not isinstance(action, argparse._StoreConstAction)
            if action.option_strings and takes_value and action.choices is None:
                assert action.metavar, f"{name} {action.option_strings}: no metavar"


@pytest.mark.parametrize("before", [True, False])
def test_global_options_before_or_after_the_command(before, tmp_path):
    models = tmp_path / "m.yaml"
    rest = ["--tasks-dir", "a", "--models-file", str(models)]
    args = parse_args([*rest, "models"] if before else ["models", *rest])
    assert args.tasks_dir == ["a"] and args.models_file == [str(models)]
    both = parse_args(["--models-file", "w.yaml", "--tasks-dir", "a", "run", "--tasks-dir", "b", "--models-file", "x.yaml",
                       "--suite", "demo"])
    assert both.tasks_dir == ["a", "b"] and both.models_file == ["w.yaml", "x.yaml"]


def test_models_file_after_the_command_adds_its_models(tmp_path, capsys):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - name: only-one\n    source: org/only-one\n")
    assert main(["models", "--models-file", str(path), "--format", "json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert names[-1] == "only-one" and "camembert-base" in names


def test_recipe_lists_every_key_with_default_and_description(capsys):
    assert main(["recipe", "--format", "json"]) == 0
    fields = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert set(fields) == set(Recipe.model_fields)
    assert fields["learning_rate"]["default"] == Recipe().learning_rate
    assert all(f["description"] for f in fields.values())
    assert main(["recipe"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate" in out and "--set KEY=VALUE" in out


@pytest.mark.parametrize("command", ["tasks", "models", "suites", "recipe"])
def test_listings_fit_100_columns(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert main([command]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 3
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    monkeypatch.setenv("COLUMNS", "60")  # narrower: columns are dropped, still within the width
    assert main([command]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 60 or command == "recipe"


@pytest.mark.parametrize("command,key", [("tasks", "name"), ("models", "name"), ("suites", "name")])
def test_listings_as_json(command, key, capsys):
    assert main([command, "--format", "json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert items and all(key in item for item in items)
    if command == "tasks":
        demo = next(t for t in items if t["name"] == "demo-nli-en")
        assert demo["input"] == "pair" and demo["labels"] == ["entailment", "neutral", "contradiction"]
