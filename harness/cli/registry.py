"""`harness tasks`, `models`, `suites`, `recipe`: the registry listings."""
from __future__ import annotations

import json


# --------------------------------------------------------------------------- commands
def cmd_tasks(args) -> int:
    from harness.views.tables import as_json, fit_table
    from harness.data.tasks import describe_task, get_task, load_registry, load_task

    if args.tasks_command == "init":
        return _tasks_init(args)
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


def _tasks_init(args) -> int:
    from pathlib import Path

    from harness.data.starter import starter_spec
    from harness.errors import HarnessError
    from harness.files import atomic_write_text

    train = Path(args.from_file).expanduser()
    if not train.is_file():
        raise HarnessError(f"--from {train}: {'is not a file' if train.exists() else 'does not exist'}; give the data file")
    test = Path(args.test).expanduser() if args.test else None
    if test is not None and not test.is_file():
        raise HarnessError(f"--test {test}: {'is not a file' if test.exists() else 'does not exist'}; give the test data file")
    out = Path(args.out).expanduser() if args.out else train.parent / f"{args.name}.yaml"
    if out.exists():
        raise HarnessError(f"{out} exists; edit it, or give another path with --out")
    text, summary = starter_spec(args.name, train, out, test)
    atomic_write_text(out, text)
    print(f"wrote {out}: {summary}")
    print(f"next: check it (the TODOs first), then: harness --tasks-dir {out.parent} tasks show {args.name}")
    return 0


def cmd_models(args) -> int:
    from harness.spec.models import load_models
    from harness.views.tables import as_json, fit_table

    registry = load_models(args.models_file)
    if args.format == "json":
        print(as_json([m.model_dump() for m in registry.models.values()]))
        return 0
    rows = [[m.name, m.init, m.source, m.revision or "", m.description] for m in registry.models.values()]
    headers = ["model", "init", "source", "revision", "description"]
    print(fit_table(rows, headers, wrap=["source", "description"], droppable=["revision", "description"]))
    return 0


def cmd_suites(args) -> int:
    from harness.spec.suites import load_suites
    from harness.views.tables import as_json, fit_table

    suites = load_suites(args.suites_file)
    if args.format == "json":
        print(as_json([s.model_dump() for s in suites.values()]))
        return 0
    rows = [[s.name, ", ".join(s.tasks), ", ".join(s.models), s.seeds, s.description] for s in suites.values()]
    headers = ["suite", "tasks", "models", "seeds", "description"]
    print(fit_table(rows, headers, wrap=["tasks", "models", "description"], droppable=["description"]))
    return 0


def cmd_recipe(args) -> int:
    from harness.spec.recipe import recipe_fields
    from harness.views.tables import as_json, fit_table

    fields = recipe_fields()
    if args.format == "json":
        print(as_json(fields))
        return 0
    rows = [[f["name"], f["type"], json.dumps(f["default"]), f["description"]] for f in fields]
    print(fit_table(rows, ["key", "type", "default", "description"], wrap=["description"]))
    print("\nChange one with 'harness run --set KEY=VALUE', or in a `training:` block of a task, model or suite.")
    return 0


