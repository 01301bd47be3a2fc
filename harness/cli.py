"""The `harness` command line. Heavy libraries are imported only once the arguments are parsed,
so that offline modes can be set before huggingface_hub and datasets read them.

Exit codes: 0 success; 1 some cells failed (run) or a regression was found (compare);
2 unusable input (a one-line error on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .errors import HarnessError


def _csv_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _key_value(value: str) -> tuple[str, object]:
    if "=" not in value:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got '{value}'")
    key, _, raw = value.partition("=")
    return key.strip(), yaml.safe_load(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-dir", action="append", default=[], metavar="DIR",
                        help="an extra folder of task spec files (repeatable; also HARNESS_TASKS_DIR)")
    parser.add_argument("--models-file", metavar="FILE", help="models.yaml to use (also HARNESS_MODELS_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)

    tasks = sub.add_parser("tasks", help="list the tasks, or show one loaded task as JSON")
    tasks_sub = tasks.add_subparsers(dest="tasks_command")
    show = tasks_sub.add_parser("show", help="load a task and print its splits, rows and label counts as JSON")
    show.add_argument("name")
    show.add_argument("--data-dir", help="read local files only (also HARNESS_DATA_DIR)")

    sub.add_parser("models", help="list the model specs of models.yaml")
    sub.add_parser("suites", help="list the suites of suites.yaml")

    run = sub.add_parser("run", help="fine-tune every task x model x seed and write result records")
    run.add_argument("--suite", help="a named set of tasks x models (see 'harness suites')")
    run.add_argument("--tasks", type=_csv_list, help="comma-separated task names")
    run.add_argument("--models", type=_csv_list, help="comma-separated model names")
    run.add_argument("--seeds", type=int, help="number of seeds: 0..N-1 (default 3, or the suite's)")
    run.add_argument("--seed-list", type=lambda v: [int(x) for x in _csv_list(v)], help="explicit seeds, e.g. 0,1,2")
    run.add_argument("--data-dir", help="read local files only, never the network (also HARNESS_DATA_DIR)")
    run.add_argument("--results", help="results folder (default results/<suite> or results/)")
    run.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    run.add_argument("--max-train-samples", type=int, help="train on a fixed random subset of N rows")
    run.add_argument("--max-eval-samples", type=int, help="score a fixed random subset of N validation / test rows")
    run.add_argument("--set", dest="overrides", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="override a hyperparameter, e.g. --set learning_rate=2e-5 (repeatable)")
    run.add_argument("--force", action="store_true", help="rerun cells whose record already exists")
    run.add_argument("--save-model", action="store_true", help="keep the best model and tokenizer in the cell folder")
    run.add_argument("--tensorboard", action="store_true", help="log training to TensorBoard under the cell folder")
    run.add_argument("--no-leaderboard", action="store_true", help="do not write RESULTS/LEADERBOARD.md at the end")
    run.add_argument("--no-plots", action="store_true", help="do not draw each cell's confusion matrix and curves")

    board = sub.add_parser("leaderboard", help="leaderboard tables from a results folder")
    board.add_argument("results")
    board.add_argument("--format", choices=["md", "csv", "json"], default="md")
    board.add_argument("--output", help="write here instead of standard output")

    compare = sub.add_parser("compare", help="paired comparison of a candidate against a baseline")
    compare.add_argument("candidate", help="results folder or baseline file")
    compare.add_argument("--baseline", required=True, help="results folder or baseline file")
    compare.add_argument("--metrics", type=_csv_list, default=["accuracy", "macro_f1"])
    compare.add_argument("--max-drop", type=float, default=0.5, help="points a drop must exceed to count (default 0.5)")
    compare.add_argument("--alpha", type=float, default=0.05)
    compare.add_argument("--format", choices=["md", "json"], default="md")
    compare.add_argument("--output", help="write the report here as well")
    compare.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")

    baseline = sub.add_parser("baseline", help="baseline files for regression testing")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True)
    export = baseline_sub.add_parser("export", help="export a compact, versioned baseline file from a results folder")
    export.add_argument("results")
    export.add_argument("--output", required=True)

    report = sub.add_parser("report", help="write RESULTS/REPORT.md with plots and tables")
    report.add_argument("results")

    predict = sub.add_parser("predict", help="predict with a model saved by 'harness run --save-model'")
    predict.add_argument("model_dir")
    predict.add_argument("texts", nargs="*", help="a text, or two for a pair task")
    predict.add_argument("--top-k", type=int, default=1)
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--input", help="a .jsonl or .csv file to predict in batches")
    predict.add_argument("--output", help="where to write the file predictions (.jsonl or .csv)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--allow-pickle", action="store_true",
                         help="also load pytorch_model.bin weights (a pickle can run code); default: safetensors only")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- commands
def cmd_tasks(args) -> int:
    from .tasks import describe_task, get_task, load_registry, load_task

    registry = load_registry(args.tasks_dir)
    if args.tasks_command == "show":
        spec = get_task(args.name, registry)
        print(json.dumps(describe_task(load_task(spec, args.data_dir)), indent=2, ensure_ascii=False))
        return 0
    from tabulate import tabulate

    rows = [
        [s.name, s.language, "pair" if s.is_pair else "single", len(s.labels), s.source_label, s.description]
        for s in registry.values()
    ]
    print(tabulate(rows, headers=["task", "lang", "input", "labels", "source", "description"], tablefmt="github"))
    return 0


def cmd_models(args) -> int:
    from tabulate import tabulate

    from .models import load_models

    registry = load_models(args.models_file)
    rows = [[m.name, m.init, m.source, m.revision or "", m.description] for m in registry.models.values()]
    print(tabulate(rows, headers=["model", "init", "source", "revision", "description"], tablefmt="github"))
    return 0


def cmd_suites(args) -> int:
    from tabulate import tabulate

    from .suites import load_suites

    suites = load_suites()
    rows = [[s.name, ", ".join(s.tasks), ", ".join(s.models), s.seeds, s.description] for s in suites.values()]
    print(tabulate(rows, headers=["suite", "tasks", "models", "seeds", "description"], tablefmt="github"))
    return 0


def cmd_run(args) -> int:
    from .models import load_models
    from .runner import RunOptions, set_offline_if_local
    from .suites import load_suites
    from .tasks import get_task, load_registry

    task_registry = load_registry(args.tasks_dir)
    model_registry = load_models(args.models_file)
    suite = None
    if args.suite:
        suites = load_suites()
        if args.suite not in suites:
            from .specs import suggest

            raise HarnessError(f"unknown suite '{args.suite}'{suggest(args.suite, suites)}; run 'harness suites'")
        suite = suites[args.suite]
    task_names = args.tasks or (suite.tasks if suite else None)
    model_names = args.models or (suite.models if suite else None)
    if not task_names or not model_names:
        raise HarnessError("say what to run: --suite NAME, or --tasks A,B and --models X,Y")
    tasks = [get_task(name, task_registry) for name in task_names]
    models = [model_registry.get(name) for name in model_names]
    from .models import refuse_pickle_only

    for model in models:  # exit 2 before any training, not a failed cell per seed
        refuse_pickle_only(model)
    if args.seed_list:
        seeds = args.seed_list
    else:
        count = args.seeds if args.seeds is not None else (suite.seeds if suite else 3)
        if count < 1:
            raise HarnessError("--seeds must be at least 1")
        seeds = list(range(count))
    overrides = dict(suite.training) if suite else {}
    overrides.update(dict(args.overrides))
    if args.max_train_samples is not None:
        overrides["max_train_samples"] = args.max_train_samples
    if args.max_eval_samples is not None:
        overrides["max_eval_samples"] = args.max_eval_samples
    from .specs import check_recipe_overrides

    check_recipe_overrides(overrides, "--set")
    results = Path(args.results) if args.results else Path("results") / (suite.name if suite else "")
    offline = set_offline_if_local(tasks, args.data_dir, models)
    options = RunOptions(
        seeds=seeds, data_dir=args.data_dir, results=results, precision=args.precision, overrides=overrides,
        force=args.force, save_model=args.save_model, tensorboard=args.tensorboard, plots=not args.no_plots,
    )
    print(
        f"harness run: {len(tasks)} task(s) x {len(models)} model(s) x {len(seeds)} seed(s) -> {results}"
        + (" (offline)" if offline else ""),
        flush=True,
    )
    from .runner import run_grid

    outcomes = run_grid(tasks, models, model_registry, options, log=lambda m: print(m, flush=True))
    if not args.no_leaderboard:
        from .leaderboard import write_leaderboard_files

        try:
            print(f"leaderboard: {write_leaderboard_files(results)}")
        except HarnessError as exc:  # the records are written; say why the table is not
            print(f"leaderboard not written: {exc}", file=sys.stderr)
    failed = [o for o in outcomes if o.status == "failed"]
    done = sum(o.status == "completed" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    print(f"{done} cell(s) trained, {skipped} skipped (record up to date), {len(failed)} failed")
    for outcome in failed:
        print(f"  failed: {outcome.task} / {outcome.model} / seed {outcome.seed}: {outcome.error} ({outcome.path})")
    return 1 if failed else 0


def _delegate(module: str):
    def run(args) -> int:
        import importlib

        return importlib.import_module(f"harness.{module}").cli_main(args)

    return run


COMMANDS = {
    "tasks": cmd_tasks,
    "models": cmd_models,
    "suites": cmd_suites,
    "run": cmd_run,
    "leaderboard": _delegate("leaderboard"),
    "compare": _delegate("compare"),
    "baseline": _delegate("baseline"),
    "report": _delegate("report"),
    "predict": _delegate("predict"),
}
