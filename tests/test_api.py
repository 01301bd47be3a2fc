"""The Python API takes the CLI's option names and values; `harness run --config` takes them from a
file with the command line overriding it; `harness.load` gives the records to a notebook."""
import json

import pytest

import harness
from conftest import harness_args
from harness.cli.main import main
from harness.errors import HarnessError
from helpers import make_record, predictions_with_accuracy, typed, write_results


def env_options(env, **extra):
    return {**dict(tasks=env["task"], models="tiny", seeds=1, data_dir=env["data"], results=env["results"],
                   tasks_dir=str(env["tasks"]), models_file=str(env["models"])), **extra}


def test_plan_takes_the_cli_names_strings_for_comma_lists_and_set_as_dict_or_list(toy_env):
    as_dict = harness.plan(**env_options(toy_env, set={"learning_rate": 3e-5}))
    as_list = harness.plan(**env_options(toy_env, set=["learning_rate=3e-5"]))
    listed = harness.plan(**{**env_options(toy_env, set={"learning_rate": 3e-5}), "tasks": [toy_env["task"]],
                             "models": ["tiny", "tiny-scratch"], "seed_list": "0,1"})
    assert [c.config_hash for c in as_dict.cells] == [c.config_hash for c in as_list.cells]
    assert as_dict.cells[0].facts.config["recipe"]["learning_rate"] == 3e-5
    assert {(c.model.name, c.seed) for c in listed.cells} == {("tiny", 0), ("tiny", 1), ("tiny-scratch", 0),
                                                              ("tiny-scratch", 1)}
    assert listed.cells[0].config_hash == as_dict.cells[0].config_hash


@pytest.mark.parametrize("extra, message", [
    ({"sedes": 2}, "unknown run option 'sedes' (did you mean 'seeds'?)"),
    ({"set": ["learning_rate"]}, "--set expects key=value"),
    ({"precision": "fp64"}, "'fp64' is not one of auto, fp32, bf16, fp16"),
    ({"seeds": "three"}, "'seeds' takes a whole number"),
    ({"set": {"learning_rate": "abc"}}, "learning_rate"),
    ({"dry_run": True}, "use harness.plan"),
])
def test_bad_options_raise_the_cli_one_line_error(toy_env, extra, message):
    with pytest.raises(HarnessError, match=None) as caught:
        harness.plan(**env_options(toy_env, **extra))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_run_config_file_with_the_command_line_overriding_it(toy_env, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"tasks: {toy_env['task']}\nmodels: [tiny, tiny-scratch]\nseed-list: [0, 1]\n"
                      f"data_dir: {toy_env['data']}\nresults: {toy_env['results']}\n"
                      "set: {learning_rate: 0.002, max_epochs: 1}\n")
    args = harness_args(toy_env, "run", "--config", str(config), "--dry-run", "--format", "json")
    assert main(args) == 0
    cells = json.loads(capsys.readouterr().out)["cells"]
    assert {(c["model"], c["seed"]) for c in cells} == {("tiny", 0), ("tiny", 1), ("tiny-scratch", 0),
                                                        ("tiny-scratch", 1)}
    assert main([*args, "--models", "tiny", "--seeds", "1", "--seed-list", "0", "--set", "learning_rate=0.003"]) == 0
    overridden = json.loads(capsys.readouterr().out)["cells"]
    assert [(c["model"], c["seed"]) for c in overridden] == [("tiny", 0)]
    api = harness.plan(config=str(config), tasks_dir=str(toy_env["tasks"]), models_file=str(toy_env["models"]),
                       models="tiny", seed_list=[0], set={"learning_rate": 0.003, "max_epochs": 1})
    assert api.cells[0].config_hash == overridden[0]["config_hash"]

    config.write_text("tasks: [a]\nsedes: 3\n")
    assert main(harness_args(toy_env, "run", "--config", str(config), "--dry-run")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: --config {config}: unknown run option 'sedes'") and "\n" not in err


def test_load_gives_typed_records_a_frame_a_leaderboard_and_a_comparison(tmp_path):
    refs = [i % 3 for i in range(300)]
    labels = ["a", "b", "c"]

    def cell(model, accuracy, salt):
        return [make_record("t", model, s, refs, predictions_with_accuracy(refs, accuracy, 3, seed=salt + s), labels)
                for s in range(3)]

    base = write_results(tmp_path / "base", cell("m1", 0.8, 0) + cell("m2", 0.7, 10))
    cand = write_results(tmp_path / "cand", cell("m1", 0.6, 20) + cell("m2", 0.7, 30))
    results = harness.load(cand)
    assert len(results) == 6 and results.records[0].task == "t"
    frame = results.to_pandas()
    assert list(frame["model"]) == ["m1"] * 3 + ["m2"] * 3 and frame.loc[0, "accuracy"] == pytest.approx(0.6)
    assert json.loads(results.leaderboard().to_json())
    comparison = results.compare(base, metrics=["accuracy"], resamples=300)
    assert comparison.regressed and [c.model for c in comparison.regressions] == ["m1"]


def test_a_variant_stores_its_cells_beside_the_plain_model(toy_env, capsys):
    plain = harness.plan(**env_options(toy_env))
    variant = harness.plan(**env_options(toy_env, variant="lr-high", set={"learning_rate": 0.002}))
    assert [c.model.name for c in variant.cells] == ["tiny@lr-high"]
    assert variant.cells[0].path.parent.name == "tiny@lr-high" and plain.cells[0].path.parent.name == "tiny"
    assert variant.cells[0].path.parent.parent == plain.cells[0].path.parent.parent
    assert variant.cells[0].status == "todo"
    with pytest.raises(HarnessError, match="--variant 'Bad Name'"):
        harness.plan(**env_options(toy_env, variant="Bad Name"))
    assert main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--variant", "v2",
                             "--data-dir", str(toy_env["data"]), "--results", str(toy_env["results"]),
                             "--dry-run", "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out)["cells"][0]["model"] == "tiny@v2"


def test_stale_cells_name_the_keys_that_changed(toy_env):
    from harness.records.store import record_path, write_record

    plan = harness.plan(**env_options(toy_env, set={"learning_rate": 0.001}))
    cell = plan.cells[0]
    refs = [0, 1, 0, 1]
    record = make_record(toy_env["task"], "tiny", 0, refs, refs, ["negative", "positive"])
    record["config"], record["config_hash"] = cell.facts.config, cell.config_hash
    write_record(record_path(toy_env["results"], toy_env["task"], "tiny", 0), typed(record))
    assert harness.plan(**env_options(toy_env, set={"learning_rate": 0.001})).cells[0].status == "done"
    stale = harness.plan(**env_options(toy_env, set={"learning_rate": 0.002})).cells[0]
    assert stale.status == "stale" and stale.note() == "changed: recipe.learning_rate 0.001 -> 0.002"
    assert "recipe.learning_rate 0.001 -> 0.002" in harness.plan(
        **env_options(toy_env, set={"learning_rate": 0.002})).table()
