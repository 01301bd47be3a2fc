"""The `harness` command line: the command registry, exit codes, signals."""
from __future__ import annotations
from harness.cli.registry import cmd_models, cmd_recipe, cmd_suites, cmd_tasks
from harness.cli.hub import cmd_push
from harness.cli.run import cmd_run
from harness.cli.run_options import parse_command_line

import sys
from harness.errors import HarnessError


class Terminated(KeyboardInterrupt):
    """SIGTERM (CI cancellation, `timeout`, a scheduler's preemption), handled like Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    try:
        args = parse_command_line(argv)
    except HarnessError as exc:  # a --config file that cannot be read
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
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



def _delegate(module: str):
    def run(args) -> int:
        import importlib

        return importlib.import_module(f"harness.cli.{module}").cli_main(args)

    return run


COMMANDS = {
    "tasks": cmd_tasks,
    "models": cmd_models,
    "suites": cmd_suites,
    "recipe": cmd_recipe,
    "push": cmd_push,
    "run": cmd_run,
    "evaluate": _delegate("evaluate"),
    "leaderboard": _delegate("leaderboard"),
    "compare": _delegate("compare"),
    "errors": _delegate("errors"),
    "baseline": _delegate("baseline"),
    "report": _delegate("report"),
    "predict": _delegate("predict"),
}
