"""The `harness` argument parser: commands, options, help text."""
from __future__ import annotations

import argparse
import textwrap
import yaml
from harness import __version__
from harness.metrics import metric_names


DESCRIPTION = """\
Fine-tune pretrained transformer encoders on text-classification tasks and rank them honestly:
every task x model x seed is one fine-tune with transformers' Trainer, scored on the whole test
split and written as a typed JSON record; leaderboards give 95% confidence intervals over seeds
and mark the models that a test counting both seed and test-example variance (seed-and-example
variance components, Satterthwaite t) cannot tell apart from the best."""

EXAMPLES = """\
examples:
  harness tasks                                  the tasks of tasks/*.yaml (--format json)
  harness tasks init my-task --from data.csv     a starter task spec from your own data file
  harness recipe                                 the hyperparameters --set can change
  harness run --suite demo                       the offline demo: 3 tasks x 2 models x 3 seeds
  harness run --suite french --dry-run           the plan: every cell, its config hash and status
  harness run --suite french --executor ray      every cell a Ray task, one GPU each
  harness run --tasks miam-loria --models camembert-base,xlm-roberta-base --seeds 3 \\
              --set learning_rate=2e-5 --report-to wandb --save-model
  harness evaluate results/demo/t/m/model-seed-0 --tasks T2   a saved or published classifier, no training
  harness leaderboard results/demo --format html --output board.html
  harness compare results/candidate --baseline baselines/main.json --max-drop 0.5
  harness errors results/demo --task demo-nli-en   misclassified test examples, most confident first
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


def _yaml_value(option: str, key: str, raw: str) -> object:
    """A --set / --search value parsed as a YAML scalar, inside the error handling: a malformed
    value is argparse's one-line usage error (exit 2), never a traceback."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise argparse.ArgumentTypeError(f"{option} {key}={raw!r}: not a valid value ({problem}); quote it or fix it") from None


def _key_value(value: str) -> tuple[str, object]:
    if "=" not in value:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got '{value}'")
    key, _, raw = value.partition("=")
    return key.strip(), _yaml_value("--set", key.strip(), raw)


def _search_values(value: str) -> tuple[str, list[object]]:
    if "=" not in value:
        raise argparse.ArgumentTypeError(f"--search expects field=value1,value2,..., got '{value}'")
    key, _, raw = value.partition("=")
    return key.strip(), [_yaml_value("--search", key.strip(), item) for item in raw.split(",") if item.strip()]


def _number(low: float, high: float, integer: bool = False, low_open: bool = False):
    """An argparse type: a finite number (NaN and infinities refused) in [low, high]."""
    def parse(text: str):
        import math

        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if integer else 'a number'}, got {text!r}") from None
        if not math.isfinite(value) or not (low < value if low_open else low <= value) or value > high:
            raise argparse.ArgumentTypeError(f"expected a finite number in {'(' if low_open else '['}{low:g}, {high:g}], got {text!r}")
        return value

    return parse


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
    """--tasks-dir, --models-file and --suites-file, on the main parser and (dest + suffix) on every command."""
    default = argparse.SUPPRESS if suffix else None
    parser.add_argument("--tasks-dir", dest="tasks_dir" + suffix, action="append", default=default or [], metavar="DIR",
                        help="an extra folder of task spec files (repeatable; also HARNESS_TASKS_DIR)")
    parser.add_argument("--models-file", dest="models_file" + suffix, action="append", default=default or [],
                        metavar="FILE", help="a models file whose models are added to the packaged ones "
                        "(repeatable; also HARNESS_MODELS_FILE)")
    parser.add_argument("--suites-file", dest="suites_file" + suffix, action="append", default=default or [],
                        metavar="FILE", help="a suites file whose suites are added to the packaged ones "
                        "(repeatable; also HARNESS_SUITES_FILE)")


def _format_option(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json")) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], help=f"output format (default {choices[0]})")


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--config", metavar="FILE",
                     help="a YAML file of these options (tasks: a,b  set: {learning_rate: 3e-5} ...); "
                          "options given here override it")
    run.add_argument("--suite", metavar="NAME", help="a named set of tasks x models (see 'harness suites')")
    run.add_argument("--tasks", type=_csv_list, metavar="A,B", help="comma-separated task names (overrides the suite's)")
    run.add_argument("--models", type=_csv_list, metavar="X,Y", help="comma-separated model names (overrides the suite's)")
    run.add_argument("--variant", metavar="NAME",
                     help="store the cells as MODEL@NAME, so two recipes of one model sit side by side in one results "
                          "folder and leaderboard (e.g. --variant lr3e-5 --set learning_rate=3e-5)")
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
    run.add_argument("--executor", metavar="local|ray", default="local",  # checked by the planner: the names
                     # of harness.execution.executors.EXECUTORS (a new executor is one entry there)
                     help="local (default): cells one after another here; ray: every cell a Ray task (pip install ray)")
    run.add_argument("--device", metavar="auto|cpu|cuda:N",
                     help="local executor: the one device every cell trains on (default: the first GPU, else CPU)")
    run.add_argument("--gpus-per-cell", type=_number(0, 64), metavar="N",
                     help="ray: GPUs reserved per cell (default 1 where the cluster has GPUs, else 0)")
    run.add_argument("--cpus-per-cell", type=int, metavar="N",
                     help="threads per cell; ray: CPUs reserved per cell (default 1)")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="ray: join this cluster (also RAY_ADDRESS); default: start Ray on this machine")


def _evaluate_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("source", metavar="SOURCE",
                     help="a Hub id, a local folder (e.g. RESULTS/<task>/<model>/model-seed-0) or package:<module>/<folder>")
    cmd.add_argument("--tasks", type=_csv_list, required=True, metavar="A,B", help="comma-separated task names")
    cmd.add_argument("--label-map", metavar="CKPT=TASK,...",
                     help="checkpoint label -> task label, e.g. 'LABEL_0=negative,LABEL_1=positive' (null: ignored)")
    cmd.add_argument("--name", metavar="NAME", help="the model's name in records and leaderboards "
                     "(default: from harness.json of a saved model, else the folder or repository name)")
    cmd.add_argument("--revision", metavar="REV", help="a Hub branch, tag or commit (resolved to a commit)")
    cmd.add_argument("--allow-pickle", action="store_true",
                     help="also load pytorch_model.bin weights (a pickle can run code); default: safetensors only")
    cmd.add_argument("--results", metavar="DIR", help="results folder (default results/)")
    cmd.add_argument("--data-dir", metavar="DIR", help="read local files only, never the network (also HARNESS_DATA_DIR)")
    cmd.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto", help="as for run (default auto)")
    cmd.add_argument("--max-eval-samples", type=int, metavar="N", help="score a fixed random subset of N validation / test rows")
    cmd.add_argument("--set", dest="overrides", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="scoring settings: max_length, truncation_side, eval_batch_size (repeatable)")
    cmd.add_argument("--device", metavar="auto|cpu|cuda:N", help="the device to score on (default: the first GPU, else CPU)")
    cmd.add_argument("--force", action="store_true", help="evaluate again even where a current record exists")
    cmd.add_argument("--no-leaderboard", action="store_true", help="do not write RESULTS/LEADERBOARD.* at the end")
    cmd.add_argument("--no-plots", action="store_true", help="do not draw each cell's confusion matrix")
    cmd.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    cmd.add_argument("--format", choices=["table", "json"], default="table", help="--dry-run output format (default table)")


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
    tasks_sub = tasks.add_subparsers(dest="tasks_command", metavar="show|init")
    show = tasks_sub.add_parser("show", help="load a task and print its splits, rows and label counts as JSON")
    show.add_argument("name", metavar="TASK", help="a task name (see 'harness tasks')")
    show.add_argument("--data-dir", metavar="DIR", help="read local files only (also HARNESS_DATA_DIR)")
    init = tasks_sub.add_parser("init", help="write a starter task spec (columns, labels found, counts) from a data file")
    init.add_argument("name", metavar="NAME", help="the new task's name, e.g. reviews-fr")
    init.add_argument("--from", dest="from_file", required=True, metavar="FILE", help="the training data (.csv, .tsv, .jsonl)")
    init.add_argument("--test", metavar="FILE", help="the test data (default: a file beside it whose name holds test, dev or eval)")
    init.add_argument("--out", metavar="FILE", help="where to write the spec (default: NAME.yaml beside the data file)")

    _format_option(command("models", "list the model specs of models.yaml"))
    _format_option(command("suites", "list the suites of suites.yaml (named sets of tasks x models)"))
    _format_option(command("recipe", "list the training hyperparameters that --set and `training:` blocks change"))

    from harness.spec.recipe import Recipe  # pydantic only: light enough for the help text

    run = command("run", "fine-tune every task x model x seed and write result records",
                  epilog="recipe keys for --set (defaults and meaning: 'harness recipe'):\n  "
                  + "\n  ".join(textwrap.wrap(", ".join(Recipe.model_fields), 76))
                  + "\n\nExit code 1 when a cell failed (its record says why), 2 for unusable input.")
    _run_options(run)

    evaluate = command("evaluate", "score a fine-tuned classifier as published on tasks (nothing is trained)",
                       epilog="The same as a models.yaml entry with 'init: finetuned'. Labels are aligned by name, or "
                       "by --label-map; what cannot be aligned exits 2 before anything runs.")
    _evaluate_options(evaluate)

    board = command("leaderboard", "leaderboard tables from a results folder")
    board.add_argument("results", metavar="RESULTS", help="a results folder (RESULTS/<task>/<model>/seed-<k>.json)")
    board.add_argument("--format", choices=["md", "csv", "json", "html"], default="md",
                       help="md (default), csv, json, or html: a self-contained web page")
    board.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    errors = command("errors", "the misclassified test examples of a task, with their text, each seed's prediction "
                     "and the confidence")
    _errors_options(errors)

    compare = command("compare", "paired comparison of a candidate against a baseline",
                      epilog="Exit codes: 0 nothing regressed, 1 a regression, 2 inputs that cannot be compared "
                             "(with --require-all also a cell only one side has).")
    _compare_options(compare)

    baseline = command("baseline", "baseline files for regression testing")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True, metavar="export")
    export = baseline_sub.add_parser("export", help="export a compact, versioned baseline file from a results folder")
    export.add_argument("results", metavar="RESULTS", help="a results folder")
    export.add_argument("--output", required=True, metavar="FILE", help="the baseline file to write (.json)")

    report = command("report", "write RESULTS/REPORT.md with plots and tables")
    report.add_argument("results", metavar="RESULTS", help="a results folder")

    predict = command("predict", "predict with a model saved by 'harness run --save-model'")
    _predict_options(predict)

    push = command("push", "upload a saved model folder (weights, tokenizer, model card) to the Hugging Face Hub")
    push.add_argument("model_dir", metavar="MODEL_DIR", help="RESULTS/<task>/<model>/model-seed-<k>")
    push.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub model repository to create or update")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--revision", metavar="BRANCH", help="the branch to push to (default main)")
    return parser


def _errors_options(errors: argparse.ArgumentParser) -> None:
    errors.add_argument("results", metavar="RESULTS", help="a results folder (RESULTS/<task>/<model>/seed-<k>.json)")
    errors.add_argument("--task", required=True, metavar="TASK", help="the task whose test errors to list")
    errors.add_argument("--model", metavar="MODEL", help="only this model (and its variants, MODEL@NAME); default every model")
    errors.add_argument("--sort", choices=["confidence", "gold", "wrong", "row"], default="confidence",
                        help="confidence: the most confident mistakes first (default); gold: the lowest probability "
                        "of the gold label first; wrong: the most wrong seeds first; row: test order")
    errors.add_argument("--limit", type=_number(1, 10**9, integer=True), metavar="N", help="at most N rows per model")
    errors.add_argument("--format", choices=["md", "csv", "json", "html"], default="md", help="output format (default md)")
    errors.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    errors.add_argument("--data-dir", metavar="DIR", help="read the task's local files from here (also HARNESS_DATA_DIR)")


def _compare_options(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("candidate", metavar="CANDIDATE", help="results folder or baseline file")
    compare.add_argument("--baseline", required=True, metavar="BASELINE", help="results folder or baseline file")
    compare.add_argument("--metrics", type=_csv_list, default=list(metric_names()), metavar="M,M",
                         help=f"metrics to compare (default {','.join(metric_names())})")
    compare.add_argument("--max-drop", type=_number(0, 100), default=0.5, metavar="POINTS",
                         help="points a significant drop must exceed to count (default 0.5)")
    compare.add_argument("--alpha", type=_number(0, 1, low_open=True), default=0.05, metavar="P", help="significance level (default 0.05)")
    compare.add_argument("--format", choices=["md", "json"], default="md", help="report format (default md)")
    compare.add_argument("--output", metavar="FILE", help="write the report here as well")
    compare.add_argument("--resamples", type=_number(100, 100_000, integer=True), default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    compare.add_argument("--tasks", type=_csv_list, metavar="A,B", help="compare only these tasks")
    compare.add_argument("--models", type=_csv_list, metavar="X,Y",
                         help="compare only these models (a model name also selects its variants, model@NAME)")
    compare.add_argument("--require-all", action="store_true",
                         help="exit 2 when a cell is on one side only (default: compare the common cells, list the rest)")


def _predict_options(predict: argparse.ArgumentParser) -> None:
    predict.add_argument("model_dir", metavar="MODEL_DIR", help="RESULTS/<task>/<model>/model-seed-<k>")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="a text, or two for a pair task")
    predict.add_argument("--top-k", type=_number(1, 10_000, integer=True), default=1, metavar="K", help="print the K most likely labels (default 1)")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--input", metavar="FILE", help="a .jsonl or .csv file to predict in batches")
    predict.add_argument("--output", metavar="FILE", help="where to write the file predictions (.jsonl or .csv)")
    predict.add_argument("--batch-size", type=_number(1, 65_536, integer=True), default=None, metavar="N",
                         help="inference batch size (default: the eval batch size the record scored with)")
    predict.add_argument("--allow-pickle", action="store_true",
                         help="also load pytorch_model.bin weights (a pickle can run code); default: safetensors only")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse, then merge the global options given after the command into those given before."""
    return merge_global_options(build_parser().parse_args(argv))


def merge_global_options(args: argparse.Namespace) -> argparse.Namespace:
    args.tasks_dir = list(args.tasks_dir) + list(getattr(args, "tasks_dir_after", []))
    args.models_file = list(args.models_file) + list(getattr(args, "models_file_after", []))
    args.suites_file = list(args.suites_file) + list(getattr(args, "suites_file_after", []))
    return args

