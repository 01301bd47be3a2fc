"""The task registry: reads tasks/*.yaml (one file per task family) into validated task specs.

A family file holds `defaults` shared by its tasks and a list of `tasks`; a task's `vars` fill
`{placeholders}` in the merged strings (MIAM's five subsets share one URL pattern). The registry
is explicit: the built-in folder plus the folders a user passes with --tasks-dir, and a task
name defined twice is an error naming both files.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError, SpecError
from harness.files import data_path, os_reason
from harness.data.readers import READERS
from harness.spec.task import TaskSpec, task_fields_at
from harness.spec.common import format_validation_error, read_yaml, suggest

BUILTIN_TASKS_DIR = data_path("tasks")
FAMILY_KEYS = {"family", "description", "defaults", "tasks"}


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(value: Any, variables: dict[str, str]) -> Any:
    """Replace `{name}` placeholders with the task's `vars`; an unknown name raises KeyError.
    Other braces are left alone."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: variables[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, variables) for v in value]
    return value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_family_file(path: Path) -> list[TaskSpec]:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping with 'family' and 'tasks'")
    unknown = set(raw) - FAMILY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(f"{path}: unknown top-level field '{key}'{suggest(key, FAMILY_KEYS)}")
    entries = raw.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{path}: field 'tasks' is missing or empty (a list of task entries)")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SpecError(f"{path}: field 'defaults' must be a mapping of task fields, got {type(defaults).__name__}")
    specs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SpecError(f"{path}: tasks[{i}] is not a mapping")
        where = f"{path}: task '{entry.get('name', f'#{i}')}'"
        raw_vars = entry.get("vars") or {}
        if not isinstance(raw_vars, dict):
            raise SpecError(f"{where}: field 'vars' must be a mapping of placeholder values")
        variables = {str(k): str(v) for k, v in raw_vars.items()}
        merged = _merge(defaults, {k: v for k, v in entry.items() if k != "vars"})
        try:
            merged = _fill(merged, variables)
        except KeyError as exc:
            raise SpecError(f"{where}: placeholder {{{exc.args[0]}}} has no value in 'vars'") from None
        merged.update(spec_file=str(path), spec_dir=str(path.parent))
        try:
            spec = TaskSpec(**merged)
        except ValidationError as exc:
            raise SpecError(f"{where}: {format_validation_error(exc, task_fields_at)}") from None
        for field_name, reader in [("reader", spec.reader)] + [
            (f"splits.{split}.reader", source.reader) for split, source in spec.splits.items() if source.reader
        ]:
            if reader not in READERS:
                raise SpecError(f"{where}: field '{field_name}': unknown reader '{reader}'{suggest(reader, READERS)}; known: {sorted(READERS)}")
        specs.append(spec)
    return specs


def _spec_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SpecError(f"tasks folder {folder} {'is not a folder' if folder.exists() else 'does not exist'}")
    try:
        return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    except OSError as exc:
        raise SpecError(f"tasks folder {folder}: {os_reason(exc)}") from None


def task_dirs(extra: list[str | Path] | None = None) -> list[Path]:
    dirs = [BUILTIN_TASKS_DIR]
    env = os.environ.get("HARNESS_TASKS_DIR")
    for item in ([env] if env else []) + list(extra or []):
        dirs.append(Path(item).expanduser().resolve())
    return dirs


def load_registry(extra_dirs: list[str | Path] | None = None) -> dict[str, TaskSpec]:
    """All task specs, by name, from the built-in folder and the user's folders."""
    registry: dict[str, TaskSpec] = {}
    for folder in dict.fromkeys(task_dirs(extra_dirs)):
        for path in _spec_files(folder):
            for spec in parse_family_file(path):
                if spec.name in registry:
                    raise SpecError(
                        f"task '{spec.name}' is defined twice: in {registry[spec.name].spec_file} and in {path}; rename one"
                    )
                registry[spec.name] = spec
    return registry


def get_task(name: str, registry: dict[str, TaskSpec]) -> TaskSpec:
    if name not in registry:
        raise HarnessError(f"unknown task '{name}'{suggest(name, registry)}; run 'harness tasks' to list them")
    return registry[name]
