"""The `harness run` options as values: from a config file (`--config run.yaml`) or from keyword
arguments (`harness.run(...)`, `harness.plan(...)`), with exactly the command line's names.

One conversion for both: each value is turned into what argparse would have produced for that
option (a comma list from "a,b" or ["a", "b"], `set` from {"key": value} or ["key=value"], ...),
checked against the option's choices and type, and then one function (`request_from_args`) turns
the parsed options into the `RunRequest` the planner takes, as for the command line.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

# API / config names that differ from the parser's destinations (the option is --set, its dest overrides)
_ALIASES = {"set": "overrides"}
# the RunRequest's own names, still taken from Python callers: name -> (option, value as the option takes it)
_REQUEST_NAMES = {"overrides": ("set", lambda v: v), "plots": ("no_plots", lambda v: not v),
                  "leaderboard": ("no_leaderboard", lambda v: not v)}
_SEARCH_BLOCK_KEYS = {"space", "strategy", "n_trials", "seeds", "budget"}
_NOT_OPTIONS = {"dry_run": "use harness.plan(...) for the plan", "format": "only the command line prints"}


def _run_parser() -> argparse.ArgumentParser:
    from harness.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def _dests(run: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The run options by destination; the global options (dest tasks_dir_after) under their own name."""
    return {a.dest.removesuffix("_after"): a for a in run._actions if a.dest not in ("help", "config")}


def _convert(name: str, value: Any, action: argparse.Action, where: str) -> Any:
    """What argparse would have stored for `value` given on the command line."""
    from harness.cli.parser import _csv_list, _key_value, _search_values

    label = f"{where}: '{name}'"
    if action.dest in ("overrides", "search_budget", "search"):
        parse = _search_values if action.dest == "search" else _key_value
        if isinstance(value, dict):
            return [(str(k), list(v) if action.dest == "search" and isinstance(v, (list, tuple)) else v)
                    for k, v in value.items()]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise HarnessError(f"{label} takes a mapping {{key: value}} or a list of 'key=value' strings")
        try:
            return [parse(i) for i in items]
        except argparse.ArgumentTypeError as exc:
            raise HarnessError(f"{label}: {exc}") from None
    if isinstance(action, argparse._StoreTrueAction) or isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool) and not (value is None and isinstance(action, argparse.BooleanOptionalAction)):
            raise HarnessError(f"{label} takes true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):  # report_to, tasks_dir: one or several
        items = [value] if isinstance(value, (str, Path)) else list(value)
        return [str(i) for i in items]
    if action.type is _csv_list:
        if isinstance(value, str):
            return _csv_list(value)
        if isinstance(value, (list, tuple)) and all(isinstance(i, str) for i in value):
            return [i.strip() for i in value if i.strip()]
        raise HarnessError(f"{label} takes a comma-separated string or a list of names")
    if action.dest == "seed_list" and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if action.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise HarnessError(f"{label} takes a whole number, got {value!r}")
    if action.type is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise HarnessError(f"{label} takes a number, got {value!r}")
    if action.choices and value not in action.choices:
        raise HarnessError(f"{label}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return str(value) if isinstance(value, Path) else value


def converted(options: dict[str, Any], where: str) -> dict[str, Any]:
    """The options under their parser destinations, converted; one-line errors for unknown names."""
    from harness.spec.common import suggest

    actions = _dests(_run_parser())
    names = sorted({*actions, *_ALIASES} - set(_ALIASES.values()))
    out: dict[str, Any] = {}
    for raw_name, value in options.items():
        name = str(raw_name).replace("-", "_")
        if name in _REQUEST_NAMES and isinstance(value, (bool, dict)):
            name, value = _REQUEST_NAMES[name][0], _REQUEST_NAMES[name][1](value)
        if name in _NOT_OPTIONS:
            raise HarnessError(f"{where}: '{raw_name}' is not a run option here ({_NOT_OPTIONS[name]})")
        dest = _ALIASES.get(name, name)
        if dest == "search" and isinstance(value, dict) and set(value) & _SEARCH_BLOCK_KEYS:
            out["search_block"] = dict(value)  # a whole search block (space, strategy, ...), as in a suite
            continue
        if dest not in actions:
            raise HarnessError(f"{where}: unknown run option '{raw_name}'{suggest(name, names)}; "
                               f"the options are those of 'harness run --help' ({', '.join(names)})")
        out[dest] = _convert(name, value, actions[dest], where)
    return out


def namespace(options: dict[str, Any], where: str) -> argparse.Namespace:
    """The parsed `harness run` namespace for these options (defaults for the rest)."""
    run = _run_parser()
    args = run.parse_args([])
    args.tasks_dir, args.models_file, args.suites_file, args.search_block = [], [], [], None
    for key, value in converted(options, where).items():
        setattr(args, key, value)
    return args


def load_config(path: str | Path) -> dict[str, Any]:
    """A run config file: a YAML mapping of `harness run` option names to values (safe YAML)."""
    import yaml

    from harness.files import read_text

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"--config {path} does not exist")
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise HarnessError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HarnessError(f"--config {path}: expected a mapping of run options (tasks: ..., models: ...), "
                           f"got a {type(data).__name__}")
    return data


def request_from_args(args: argparse.Namespace):
    """The command line's (or the API's) parsed `run` options -> the planner's RunRequest."""
    from harness.cli.parser import search_block
    from harness.planning.request import RunRequest

    return RunRequest(
        suite=args.suite, tasks=args.tasks, models=args.models, seeds=args.seeds, seed_list=args.seed_list,
        data_dir=args.data_dir, results=args.results, precision=args.precision, overrides=dict(args.overrides),
        max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples, force=args.force,
        save_model=args.save_model, tensorboard=args.tensorboard, report_to=args.report_to, plots=not args.no_plots,
        leaderboard=not args.no_leaderboard, tasks_dir=args.tasks_dir, models_file=args.models_file,
        suites_file=args.suites_file, executor=args.executor, device=args.device, gpus_per_cell=args.gpus_per_cell,
        cpus_per_cell=args.cpus_per_cell, ray_address=args.ray_address, checkpoint=args.checkpoint,
        search=getattr(args, "search_block", None) or search_block(args), no_search=args.no_search,
        variant=args.variant,
    )


def parse_command_line(argv: list[str] | None = None) -> argparse.Namespace:
    """`harness ...` parsed; for `run --config FILE`, the file's values become the defaults and the
    command line wins (its --set adds to the file's set)."""
    from harness.cli.parser import build_parser, merge_global_options

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        values = converted(load_config(args.config), f"--config {args.config}")
        if "search_block" in values:
            raise HarnessError(f"--config {args.config}: 'search' takes {{field: [values]}} here (the search-* "
                               f"options set strategy, trials, seeds and budget)")
        run = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
        run.set_defaults(**{f"{k}_after" if k in ("tasks_dir", "models_file", "suites_file") else k: v for k, v in values.items()})
        args = parser.parse_args(argv)
    return merge_global_options(args)
