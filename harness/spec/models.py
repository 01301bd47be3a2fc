"""The model registry (models.yaml), validated when loaded."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from pydantic import ValidationError
from harness.errors import HarnessError, SpecError
from harness.files import data_path
from harness.spec.model import ModelSpec
from harness.spec.search import SearchBlock
from harness.spec.recipe import check_recipe_overrides
from harness.spec.common import format_validation_error, read_yaml, suggest


BUILTIN_MODELS_FILE = data_path("models.yaml")
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class ModelRegistry:
    path: str
    defaults: dict[str, Any]
    models: dict[str, ModelSpec]
    search: SearchBlock | None = field(default=None)  # `defaults: search:`

    def with_models(self, specs: list[ModelSpec]) -> "ModelRegistry":
        """This registry with `specs` added (a name already in models.yaml is an error)."""
        taken = [s.name for s in specs if s.name in self.models]
        if taken:
            raise HarnessError(f"model name '{taken[0]}' is already in {self.path}; pick another with --name")
        return ModelRegistry(self.path, self.defaults, {**self.models, **{s.name: s for s in specs}}, self.search)

    def get(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise HarnessError(f"unknown model '{name}'{suggest(name, self.models)}; run 'harness models' to list them")
        return self.models[name]


def models_file(path: str | Path | None = None) -> Path:
    value = path or os.environ.get("HARNESS_MODELS_FILE")
    return Path(value).expanduser().resolve() if value else BUILTIN_MODELS_FILE


def _corpus_files_beside(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A `pretrain: corpus: files:` path is relative to the models file, like a local source."""
    pretrain = entry.get("pretrain")
    corpus = pretrain.get("corpus") if isinstance(pretrain, dict) else None
    if not isinstance(corpus, dict) or not isinstance(corpus.get("files"), list):
        return entry
    files = [str((folder / Path(f).expanduser()).resolve()) if isinstance(f, str) else f for f in corpus["files"]]
    return {**entry, "pretrain": {**pretrain, "corpus": {**corpus, "files": files}}}


def load_models(path: str | Path | None = None) -> ModelRegistry:
    file = models_file(path)
    raw = read_yaml(file)
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise SpecError(f"{file}: expected a mapping with a 'models' list (and an optional 'defaults' block)")
    unknown = set(raw) - {"defaults", "models"}
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(f"{file}: unknown top-level field '{key}'{suggest(key, ['defaults', 'models'])}")
    defaults = dict(raw.get("defaults") or {}) if isinstance(raw.get("defaults"), dict) else raw.get("defaults")
    search_block = defaults.pop("search", None) if isinstance(defaults, dict) else None
    defaults = check_recipe_overrides(defaults or {}, f"{file}: defaults")
    try:
        search = SearchBlock(**search_block) if search_block is not None else None
    except (ValidationError, TypeError) as exc:
        detail = format_validation_error(exc, SearchBlock.model_fields) if isinstance(exc, ValidationError) else str(exc)
        raise SpecError(f"{file}: defaults: search: {detail}") from None
    models: dict[str, ModelSpec] = {}
    for i, entry in enumerate(raw["models"]):
        if not isinstance(entry, dict):
            raise SpecError(f"{file}: models[{i}] is not a mapping")
        where = f"{file}: model '{entry.get('name', f'#{i}')}'"
        entry = _corpus_files_beside(entry, file.parent)
        try:
            spec = ModelSpec(**entry)
        except ValidationError as exc:
            raise SpecError(f"{where}: {format_validation_error(exc, ModelSpec.model_fields)}") from None
        if spec.name in models:
            raise SpecError(f"{file}: model '{spec.name}' is defined twice")
        models[spec.name] = spec
    return ModelRegistry(path=str(file), defaults=defaults, models=models, search=search)


