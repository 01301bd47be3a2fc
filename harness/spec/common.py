"""Shared pieces of every spec: the strict base model, name rules, suggestions, YAML, error lines."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any
from pydantic import BaseModel, ConfigDict, ValidationError
from harness import files
from harness.errors import SpecError


SPLITS = ("train", "validation", "test")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN/inf are never a setting


# --------------------------------------------------------------------------- helpers
def suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def format_validation_error(exc: ValidationError, context: Any = None) -> str:
    """One line for a pydantic error. `context`: the valid field names (for "did you mean"), or a
    function of the error's location that returns them (a task spec's nested blocks)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            field = str(err["loc"][-1])
            fields = context(tuple(err["loc"])) if callable(context) else (context or [])
            msg = f"unknown field{suggest(field, fields)}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        parts.append(f"field '{loc}': {msg}")
    return "; ".join(parts)


def registry_files(builtin: Path, paths: Any, env: str) -> list[Path]:
    """The files of an additive registry, in order: the packaged one, then each of `paths` (one
    path or a list; when none, the environment variable `env`, several separated by ':'). A file
    given twice is read once."""
    import os

    if paths is None or paths == []:
        paths = [p for p in os.environ.get(env, "").split(os.pathsep) if p.strip()]
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    out = [builtin.resolve()]
    for value in paths:
        file = Path(value).expanduser().resolve()
        if file not in out:
            out.append(file)
    return out


def read_yaml(path: Path) -> Any:
    """A spec file through the one reader (harness.files): safe, strict about duplicate keys,
    and every unreadable file a one-line SpecError."""
    return files.read_yaml(path, error=SpecError)
