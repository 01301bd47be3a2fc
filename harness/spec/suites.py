"""Suites (suites.yaml): named sets of tasks x models, validated when loaded."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from harness.errors import SpecError
from harness.files import data_path
from harness.spec.common import NAME_PATTERN, Strict, format_validation_error, read_yaml, registry_files
from harness.spec.recipe import RecipeOverrides
from harness.spec.search import SuiteSearchBlock

BUILTIN_SUITES_FILE = data_path("suites.yaml")


class Suite(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    tasks: list[str] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    seeds: int = Field(3, ge=1)
    training: RecipeOverrides = Field(default_factory=dict)
    search: SuiteSearchBlock | None = None
    variant: str | None = Field(None, pattern=NAME_PATTERN)  # cells stored as model@variant (see --variant)


def load_suites(paths: str | Path | list[str | Path] | None = None) -> dict[str, Suite]:
    """The suites: the packaged suites.yaml plus every suites file given (`--suites-file`,
    repeatable, or HARNESS_SUITES_FILE, several separated by ':'). Files add suites; a name
    defined in two files is an error naming both."""
    suites: dict[str, Suite] = {}
    where: dict[str, Path] = {}
    for file in registry_files(BUILTIN_SUITES_FILE, paths, "HARNESS_SUITES_FILE"):
        for name, suite in _load_file(file).items():
            if name in suites:
                raise SpecError(f"{file}: suite '{name}' is already defined in {where[name]}; rename one of them")
            suites[name], where[name] = suite, file
    return suites


def _load_file(file: Path) -> dict[str, Suite]:
    raw = read_yaml(file)
    if not isinstance(raw, dict) or not isinstance(raw.get("suites"), list):
        raise SpecError(f"{file}: expected a mapping with a 'suites' list")
    suites: dict[str, Suite] = {}
    for i, entry in enumerate(raw["suites"]):
        where = f"{file}: suite '{entry.get('name', f'#{i}') if isinstance(entry, dict) else i}'"
        try:
            suite = Suite(**entry)
        except (ValidationError, TypeError) as exc:
            detail = format_validation_error(exc, Suite.model_fields) if isinstance(exc, ValidationError) else str(exc)
            raise SpecError(f"{where}: {detail}") from None
        if suite.name in suites:
            raise SpecError(f"{file}: suite '{suite.name}' is defined twice")
        suites[suite.name] = suite
    return suites
