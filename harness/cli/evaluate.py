"""`harness evaluate SOURCE --tasks T1,T2`: score a fine-tuned checkpoint as published (no training).

The same as a models.yaml entry with `init: finetuned`, without editing models.yaml: the model is
named after its source (or --name), planned, checked and executed like any cell of `harness run`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from harness.errors import HarnessError


def default_name(source: str) -> str:
    """A model name for SOURCE: a folder saved by `harness run --save-model` is named after what it
    was trained as (<model>-<task>-seed-<k>), another folder or a Hub id after its last part."""
    folder = Path(source).expanduser()
    saved = folder / "harness.json"
    if saved.is_file():
        from harness.files import read_text

        try:
            meta = json.loads(read_text(saved, "saved model metadata"))
            name = f"{meta['model']}-{meta['task']}-seed-{meta['seed']}"
        except (ValueError, KeyError, TypeError):
            name = folder.resolve().name
    else:
        name = folder.resolve().name if folder.is_dir() else source.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")
    if not name:
        raise HarnessError(f"cannot name the model of '{source}': pass --name NAME (lower case, digits, . _ -)")
    return name


def cli_main(args) -> int:
    from pydantic import ValidationError

    from harness.cli.run import plan_and_execute
    from harness.planning.labels import parse_label_map
    from harness.planning.request import RunRequest
    from harness.spec.common import format_validation_error
    from harness.spec.model import ModelSpec

    entry = {"name": args.name or default_name(args.source), "source": args.source, "init": "finetuned",
             "revision": args.revision, "allow_pickle": args.allow_pickle,
             "label_map": parse_label_map(args.label_map) if args.label_map else None}
    try:
        spec = ModelSpec(**entry)
    except ValidationError as exc:
        raise HarnessError(f"harness evaluate {args.source}: {format_validation_error(exc, ModelSpec.model_fields)}") from None
    request = RunRequest(
        tasks=args.tasks, models=[spec.name], model_specs=[spec], seed_list=[0], data_dir=args.data_dir,
        results=args.results, precision=args.precision, overrides=dict(args.overrides),
        max_eval_samples=args.max_eval_samples, force=args.force, plots=not args.no_plots,
        leaderboard=not args.no_leaderboard, tasks_dir=args.tasks_dir, models_file=args.models_file,
        suites_file=args.suites_file, device=args.device,
    )
    return plan_and_execute(request, args.dry_run, args.format)
