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


def _search_values(value: str) -> tuple[str, list[object]]:
    if "=" not in value:
        raise argparse.ArgumentTypeError(f"--search expects field=value1,value2,..., got '{value}'")
    key, _, raw = value.partition("=")
    return key.strip(), [yaml.safe_load(item) for item in raw.split(",") if item.strip()]


def search_block(args) -> dict[str, object]:
    """The command line's search layer: --search fields, and the --search-* options."""
    block: dict[str, object] = {}
    if args.search:
        block["space"] = dict(args.search)
    for key, value in (("strategy", args.search_strategy), ("n_trials", args.search_trials),
                       ("seeds", args.search_seeds)):
        if value is not None:
            block[key] = value
    if args.search_budget:
        block["budget"] = dict(args.search_budget)
    return block


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
    run.add_argument("--seed-list", metavar="0,1,2",
                     help="explicit seeds, comma-separated, each 0 or more and given once")
    run.add_argument("--data-dir", help="read local files only, never the network (also HARNESS_DATA_DIR)")
    run.add_argument("--results", help="results folder (default results/<suite> or results/)")
    run.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                     help="auto: bf16 where the device runs it natively, else fp32 (recorded in each record)")
    run.add_argument("--max-train-samples", type=int, help="train on a fixed random subset of N rows")
    run.add_argument("--max-eval-samples", type=int, help="score a fixed random subset of N validation / test rows")
    run.add_argument("--set", dest="overrides", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="override a hyperparameter, e.g. --set learning_rate=2e-5 (repeatable)")
    run.add_argument("--search", type=_search_values, action="append", default=[], metavar="FIELD=V1,V2,...",
                     help="search a recipe field on the validation split, e.g. learning_rate=1e-5,2e-5,3e-5 (repeatable)")
    run.add_argument("--search-strategy", choices=["grid", "random", "tpe"], help="grid (default), random or tpe (Optuna)")
    run.add_argument("--search-trials", type=int, metavar="N", help="random / tpe: configurations to try")
    run.add_argument("--search-seeds", type=int, metavar="N", help="seeds per trial configuration (default 1)")
    run.add_argument("--search-budget", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="trials only: max_train_samples, max_epochs or max_steps (repeatable)")
    run.add_argument("--no-search", action="store_true", help="ignore every search block: run the recipe as declared")
    run.add_argument("--force", action="store_true", help="rerun cells whose record already exists")
    run.add_argument("--save-model", action="store_true", help="keep the best model and tokenizer in the cell folder")
    run.add_argument("--tensorboard", action="store_true", help="log training to TensorBoard under the cell folder")
    run.add_argument("--no-leaderboard", action="store_true", help="do not write RESULTS/LEADERBOARD.md at the end")
    run.add_argument("--no-plots", action="store_true", help="do not draw each cell's confusion matrix and curves")
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan (every cell, its config hash and status) and exit without training")
    run.add_argument("--format", choices=["table", "json"], default="table", help="--dry-run output format")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local: cells one after another here; ray: every cell a Ray task (pip install ray)")
    run.add_argument("--device", metavar="auto|cpu|cuda:N",
                     help="local executor: the one device every cell trains on (default: the first GPU, else CPU)")
    run.add_argument("--gpus-per-cell", type=float, metavar="N",
                     help="ray: GPUs reserved per cell (default 1 where the cluster has GPUs, else 0)")
    run.add_argument("--cpus-per-cell", type=int, metavar="N",
                     help="threads per cell; ray: CPUs reserved per cell (default 1)")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="ray: join this cluster (also RAY_ADDRESS); default: start Ray on this machine")

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
    from .api import execute
    from .planner import RunRequest, make_plan

    request = RunRequest(
        suite=args.suite, tasks=args.tasks, models=args.models, seeds=args.seeds, seed_list=args.seed_list,
        data_dir=args.data_dir, results=args.results, precision=args.precision, overrides=dict(args.overrides),
        max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples, force=args.force,
        save_model=args.save_model, tensorboard=args.tensorboard, plots=not args.no_plots,
        leaderboard=not args.no_leaderboard, tasks_dir=args.tasks_dir, models_file=args.models_file,
        executor=args.executor, device=args.device, gpus_per_cell=args.gpus_per_cell,
        cpus_per_cell=args.cpus_per_cell, ray_address=args.ray_address, search=search_block(args),
        no_search=args.no_search,
    )
    plan = make_plan(request)
    if args.dry_run:
        if args.format == "json":
            print(json.dumps(plan.to_json(), indent=1))
        else:
            print(plan.table())
            print(plan.summary())
        return 0
    print(f"harness run: {plan.summary()}", flush=True)
    result = execute(plan, log=lambda m: print(m, flush=True))
    counts = result.counts()
    print(f"{counts['completed']} cell(s) trained, {counts['skipped']} skipped (record up to date), "
          f"{counts['failed']} failed")
    for outcome in result.failed:
        print(f"  failed: {outcome.label}: {outcome.error} ({outcome.path})")
    return 1 if result.failed else 0


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
