"""The `harness` command line: arguments -> the library's entry points; prints; exit codes.

Heavy libraries are imported only once the arguments are parsed, so that offline modes can be
set before huggingface_hub and datasets read them.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import yaml

from . import __version__
from .errors import HarnessError

DESCRIPTION = """\
Fine-tune pretrained transformer encoders on text-classification tasks and rank them honestly:
every task x model x seed is one fine-tune with transformers' Trainer, scored on the whole test
split and written as a typed JSON record; leaderboards give 95% confidence intervals over seeds
and mark the models a paired bootstrap cannot tell apart from the best."""

EXAMPLES = """\
examples:
  harness tasks                                  the tasks of tasks/*.yaml (--format json)
  harness recipe                                 the hyperparameters --set can change
  harness run --suite demo                       the offline demo: 3 tasks x 2 models x 3 seeds
  harness run --suite french --dry-run           the plan: every cell, its config hash and status
  harness run --suite french --executor ray      every cell a Ray task, one GPU each
  harness run --tasks miam-loria --models camembert-base,xlm-roberta-base --seeds 3 \\
              --set learning_rate=2e-5 --report-to wandb --save-model
  harness leaderboard results/demo --format html --output board.html
  harness compare results/candidate --baseline baselines/main.json --max-drop 0.5
  harness push results/demo/demo-nli-en/minilm-l6/model-seed-0 --repo-id my-org/minilm-nli

exit codes:
  0  success
  1  some cells failed (run), a regression was found (compare)
  2  unusable input: a one-line error on stderr says what to fix
  130 interrupted (Ctrl-C); 143 terminated (SIGTERM): finished records are kept, rerun to go on

global options (--tasks-dir, --models-file) may come before or after the command."""

FORMATTER = argparse.RawDescriptionHelpFormatter


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


def _global_options(parser: argparse.ArgumentParser, suffix: str = "") -> None:
    """--tasks-dir and --models-file, on the main parser and (dest + suffix) on every command."""
    default = argparse.SUPPRESS if suffix else None
    parser.add_argument("--tasks-dir", dest="tasks_dir" + suffix, action="append", default=default or [], metavar="DIR",
                        help="an extra folder of task spec files (repeatable; also HARNESS_TASKS_DIR)")
    parser.add_argument("--models-file", dest="models_file" + suffix, metavar="FILE", default=default,
                        help="the models.yaml to use (also HARNESS_MODELS_FILE)")


def _format_option(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json")) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], help=f"output format (default {choices[0]})")


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--suite", metavar="NAME", help="a named set of tasks x models (see 'harness suites')")
    run.add_argument("--tasks", type=_csv_list, metavar="A,B", help="comma-separated task names (overrides the suite's)")
    run.add_argument("--models", type=_csv_list, metavar="X,Y", help="comma-separated model names (overrides the suite's)")
    run.add_argument("--seeds", type=int, metavar="N", help="number of seeds: 0..N-1 (default 3, or the suite's)")
    run.add_argument("--seed-list", metavar="0,1,2",
                     help="explicit seeds instead of --seeds, comma-separated, each 0 or more and given once")
    run.add_argument("--data-dir", metavar="DIR", help="read local files only, never the network (also HARNESS_DATA_DIR)")
    run.add_argument("--results", metavar="DIR", help="results folder (default results/<suite> or results/)")
    run.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                     help="auto: bf16 where the device runs it natively, fp16 on pre-Ampere GPUs, else fp32 (default auto)")
    run.add_argument("--max-train-samples", type=int, metavar="N", help="train on a fixed random subset of N rows")
    run.add_argument("--max-eval-samples", type=int, metavar="N", help="score a fixed random subset of N validation / test rows")
    run.add_argument("--set", dest="overrides", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="override a recipe hyperparameter, e.g. --set learning_rate=2e-5 (repeatable; keys: 'harness recipe')")
    run.add_argument("--search", type=_search_values, action="append", default=[], metavar="FIELD=V1,V2,...",
                     help="search a recipe field on the validation split, e.g. learning_rate=1e-5,2e-5,3e-5 (repeatable)")
    run.add_argument("--search-strategy", choices=["grid", "random", "tpe"], help="grid (default), random or tpe (Optuna)")
    run.add_argument("--search-trials", type=int, metavar="N", help="random / tpe: configurations to try")
    run.add_argument("--search-seeds", type=int, metavar="N", help="seeds per trial configuration (default 1)")
    run.add_argument("--search-budget", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="trials only: max_train_samples, max_epochs or max_steps (repeatable)")
    run.add_argument("--no-search", action="store_true", help="ignore every search block: run the recipe as declared")
    run.add_argument("--force", action="store_true", help="rerun cells whose record already exists with the same configuration")
    run.add_argument("--save-model", action="store_true",
                     help="keep the best model, its tokenizer and a model card in RESULTS/<task>/<model>/model-seed-<k>/")
    run.add_argument("--report-to", dest="report_to", action="append", default=[], metavar="TRACKER",
                     choices=["tensorboard", "wandb", "mlflow", "trackio", "none"],
                     help="log training to an experiment tracker: tensorboard, wandb, mlflow, trackio or none "
                          "(repeatable; default none); one run per cell, named <task>/<model>/seed-<k>")
    run.add_argument("--tensorboard", action="store_true", help="shortcut for --report-to tensorboard (logs under the cell folder)")
    run.add_argument("--no-leaderboard", action="store_true", help="do not write RESULTS/LEADERBOARD.{md,csv,json,html} at the end")
    run.add_argument("--no-plots", action="store_true", help="do not draw each cell's confusion matrix and curves")
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan (every cell, its config hash and status) and exit without training")
    run.add_argument("--format", choices=["table", "json"], default="table", help="--dry-run output format (default table)")
    run.add_argument("--checkpoint", action=argparse.BooleanOptionalAction, default=None,
                     help="save the training state at each evaluation so a killed cell resumes "
                          "(default: only cells planned for more than 2000 optimizer steps)")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local (default): cells one after another here; ray: every cell a Ray task (pip install ray)")
    run.add_argument("--device", metavar="auto|cpu|cuda:N",
                     help="local executor: the one device every cell trains on (default: the first GPU, else CPU)")
    run.add_argument("--gpus-per-cell", type=float, metavar="N",
                     help="ray: GPUs reserved per cell (default 1 where the cluster has GPUs, else 0)")
    run.add_argument("--cpus-per-cell", type=int, metavar="N",
                     help="threads per cell; ray: CPUs reserved per cell (default 1)")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="ray: join this cluster (also RAY_ADDRESS); default: start Ray on this machine")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=FORMATTER)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kwargs) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", formatter_class=FORMATTER, **kwargs)
        _global_options(cmd, suffix="_after")
        return cmd

    tasks = command("tasks", "list the tasks, or load one and show its splits")
    _format_option(tasks)
    tasks_sub = tasks.add_subparsers(dest="tasks_command", metavar="show")
    show = tasks_sub.add_parser("show", help="load a task and print its splits, rows and label counts as JSON")
    show.add_argument("name", metavar="TASK", help="a task name (see 'harness tasks')")
    show.add_argument("--data-dir", metavar="DIR", help="read local files only (also HARNESS_DATA_DIR)")

    _format_option(command("models", "list the model specs of models.yaml"))
    _format_option(command("suites", "list the suites of suites.yaml (named sets of tasks x models)"))
    _format_option(command("recipe", "list the training hyperparameters that --set and `training:` blocks change"))

    from .specs import Recipe  # pydantic only: light enough for the help text

    run = command("run", "fine-tune every task x model x seed and write result records",
                  epilog="recipe keys for --set (defaults and meaning: 'harness recipe'):\n  "
                  + "\n  ".join(textwrap.wrap(", ".join(Recipe.model_fields), 76))
                  + "\n\nExit code 1 when a cell failed (its record says why), 2 for unusable input.")
    _run_options(run)

    board = command("leaderboard", "leaderboard tables from a results folder")
    board.add_argument("results", metavar="RESULTS", help="a results folder (RESULTS/<task>/<model>/seed-<k>.json)")
    board.add_argument("--format", choices=["md", "csv", "json", "html"], default="md",
                       help="md (default), csv, json, or html: a self-contained web page")
    board.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    compare = command("compare", "paired comparison of a candidate against a baseline",
                      epilog="Exit codes: 0 nothing regressed, 1 a regression, 2 inputs that cannot be compared.")
    compare.add_argument("candidate", metavar="CANDIDATE", help="results folder or baseline file")
    compare.add_argument("--baseline", required=True, metavar="BASELINE", help="results folder or baseline file")
    compare.add_argument("--metrics", type=_csv_list, default=["accuracy", "macro_f1"], metavar="M,M",
                         help="metrics to compare (default accuracy,macro_f1)")
    compare.add_argument("--max-drop", type=float, default=0.5, metavar="POINTS",
                         help="points a significant drop must exceed to count (default 0.5)")
    compare.add_argument("--alpha", type=float, default=0.05, metavar="P", help="significance level (default 0.05)")
    compare.add_argument("--format", choices=["md", "json"], default="md", help="report format (default md)")
    compare.add_argument("--output", metavar="FILE", help="write the report here as well")
    compare.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")

    baseline = command("baseline", "baseline files for regression testing")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True, metavar="export")
    export = baseline_sub.add_parser("export", help="export a compact, versioned baseline file from a results folder")
    export.add_argument("results", metavar="RESULTS", help="a results folder")
    export.add_argument("--output", required=True, metavar="FILE", help="the baseline file to write (.json)")

    report = command("report", "write RESULTS/REPORT.md with plots and tables")
    report.add_argument("results", metavar="RESULTS", help="a results folder")

    predict = command("predict", "predict with a model saved by 'harness run --save-model'")
    predict.add_argument("model_dir", metavar="MODEL_DIR", help="RESULTS/<task>/<model>/model-seed-<k>")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="a text, or two for a pair task")
    predict.add_argument("--top-k", type=int, default=1, metavar="K", help="print the K most likely labels (default 1)")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--input", metavar="FILE", help="a .jsonl or .csv file to predict in batches")
    predict.add_argument("--output", metavar="FILE", help="where to write the file predictions (.jsonl or .csv)")
    predict.add_argument("--batch-size", type=int, default=32, metavar="N", help="inference batch size (default 32)")
    predict.add_argument("--allow-pickle", action="store_true",
                         help="also load pytorch_model.bin weights (a pickle can run code); default: safetensors only")

    push = command("push", "upload a saved model folder (weights, tokenizer, model card) to the Hugging Face Hub")
    push.add_argument("model_dir", metavar="MODEL_DIR", help="RESULTS/<task>/<model>/model-seed-<k>")
    push.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub model repository to create or update")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--revision", metavar="BRANCH", help="the branch to push to (default main)")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse, then merge the global options given after the command into those given before."""
    args = build_parser().parse_args(argv)
    args.tasks_dir = list(args.tasks_dir) + list(getattr(args, "tasks_dir_after", []))
    args.models_file = getattr(args, "models_file_after", None) or args.models_file
    return args


class Terminated(KeyboardInterrupt):
    """SIGTERM (CI cancellation, `timeout`, a scheduler's preemption), handled like Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    args = parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("harness: terminated (SIGTERM); finished records are kept, rerun to go on", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("harness: interrupted; finished records are kept, rerun to go on", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- commands
def cmd_tasks(args) -> int:
    from .tables import as_json, fit_table
    from .tasks import describe_task, get_task, load_registry, load_task

    registry = load_registry(args.tasks_dir)
    if args.tasks_command == "show":
        spec = get_task(args.name, registry)
        print(json.dumps(describe_task(load_task(spec, args.data_dir)), indent=2, ensure_ascii=False))
        return 0
    if args.format == "json":
        print(as_json([
            {"name": s.name, "language": s.language, "input": "pair" if s.is_pair else "single", "labels": list(s.labels),
             "source": s.source_label, "description": s.description, "spec_file": s.spec_file}
            for s in registry.values()
        ]))
        return 0
    rows = [
        [s.name, s.language, "pair" if s.is_pair else "single", len(s.labels), s.source_label, s.description]
        for s in registry.values()
    ]
    headers = ["task", "lang", "input", "labels", "source", "description"]
    print(fit_table(rows, headers, wrap=["source", "description"], droppable=["source", "description"]))
    return 0


def cmd_models(args) -> int:
    from .models import load_models
    from .tables import as_json, fit_table

    registry = load_models(args.models_file)
    if args.format == "json":
        print(as_json([m.model_dump() for m in registry.models.values()]))
        return 0
    rows = [[m.name, m.init, m.source, m.revision or "", m.description] for m in registry.models.values()]
    headers = ["model", "init", "source", "revision", "description"]
    print(fit_table(rows, headers, wrap=["source", "description"], droppable=["revision", "description"]))
    return 0


def cmd_suites(args) -> int:
    from .suites import load_suites
    from .tables import as_json, fit_table

    suites = load_suites()
    if args.format == "json":
        print(as_json([s.model_dump() for s in suites.values()]))
        return 0
    rows = [[s.name, ", ".join(s.tasks), ", ".join(s.models), s.seeds, s.description] for s in suites.values()]
    headers = ["suite", "tasks", "models", "seeds", "description"]
    print(fit_table(rows, headers, wrap=["tasks", "models", "description"], droppable=["description"]))
    return 0


def cmd_recipe(args) -> int:
    from .specs import recipe_fields
    from .tables import as_json, fit_table

    fields = recipe_fields()
    if args.format == "json":
        print(as_json(fields))
        return 0
    rows = [[f["name"], f["type"], json.dumps(f["default"]), f["description"]] for f in fields]
    print(fit_table(rows, ["key", "type", "default", "description"], wrap=["description"]))
    print("\nChange one with 'harness run --set KEY=VALUE', or in a `training:` block of a task, model or suite.")
    return 0


def cmd_push(args) -> int:
    from .card import push_model

    print(f"pushed: {push_model(Path(args.model_dir), args.repo_id, private=args.private, revision=args.revision)}")
    return 0


def cmd_run(args) -> int:
    from .api import execute
    from .planner import RunRequest, make_plan

    request = RunRequest(
        suite=args.suite, tasks=args.tasks, models=args.models, seeds=args.seeds, seed_list=args.seed_list,
        data_dir=args.data_dir, results=args.results, precision=args.precision, overrides=dict(args.overrides),
        max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples, force=args.force,
        save_model=args.save_model, tensorboard=args.tensorboard, report_to=args.report_to, plots=not args.no_plots,
        leaderboard=not args.no_leaderboard, tasks_dir=args.tasks_dir, models_file=args.models_file,
        executor=args.executor, device=args.device, gpus_per_cell=args.gpus_per_cell,
        cpus_per_cell=args.cpus_per_cell, ray_address=args.ray_address, checkpoint=args.checkpoint,
        search=search_block(args), no_search=args.no_search,
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
    "recipe": cmd_recipe,
    "push": cmd_push,
    "run": cmd_run,
    "leaderboard": _delegate("leaderboard"),
    "compare": _delegate("compare"),
    "baseline": _delegate("baseline"),
    "report": _delegate("report"),
    "predict": _delegate("predict"),
}
