"""The model registry (models.yaml), validated when loaded."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from pydantic import ValidationError
from harness.errors import HarnessError, SpecError
from harness.files import data_path
from harness.spec.model import ModelSpec
from harness.spec.search import SearchBlock
from harness.spec.recipe import check_recipe_overrides
from harness.spec.common import format_validation_error, read_yaml, registry_files, suggest


BUILTIN_MODELS_FILE = data_path("models.yaml")
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class ModelsFile:
    """One models file as read: its path, its `defaults` (recipe) and `defaults: search:` block,
    which apply to the models of this file only."""

    path: str
    defaults: dict[str, Any]
    search: SearchBlock | None = None


@dataclass(frozen=True)
class ModelRegistry:
    path: str  # the last file read: the user's own, or the packaged models.yaml
    defaults: dict[str, Any]
    models: dict[str, ModelSpec]
    search: SearchBlock | None = field(default=None)  # `defaults: search:`
    files: dict[str, ModelsFile] = field(default_factory=dict)  # model name -> the file that defines it

    def with_models(self, specs: list[ModelSpec]) -> "ModelRegistry":
        """This registry with `specs` added (a name already in a models file is an error); they
        take the defaults of the last file read."""
        taken = [s.name for s in specs if s.name in self.models]
        if taken:
            raise HarnessError(f"model name '{taken[0]}' is already in {self._file(taken[0]).path}; pick another with --name")
        last = ModelsFile(self.path, self.defaults, self.search)
        return ModelRegistry(self.path, self.defaults, {**self.models, **{s.name: s for s in specs}}, self.search,
                             {**self.files, **{s.name: last for s in specs}})

    def _file(self, name: str) -> ModelsFile:
        base = name.split("@", 1)[0]  # a variant (model@NAME) takes its model's file
        return self.files.get(base) or ModelsFile(self.path, self.defaults, self.search)

    def defaults_layer(self, name: str) -> tuple[dict[str, Any], str]:
        """The recipe defaults that apply to model `name`, and where they were declared."""
        file = self._file(name)
        return file.defaults, f"{file.path}: defaults"

    def search_default(self, name: str) -> tuple[SearchBlock | None, str]:
        """The `defaults: search:` block of the file that defines model `name`, and where it is."""
        file = self._file(name)
        return file.search, f"{file.path}: defaults: search"

    def get(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise HarnessError(f"unknown model '{name}'{suggest(name, self.models)}; run 'harness models' to list them")
        return self.models[name]


def models_files(paths: str | Path | list[str | Path] | None = None) -> list[Path]:
    """The models files read, in order: the packaged models.yaml, then each of `paths` (else the
    HARNESS_MODELS_FILE variable, several separated by ':')."""
    return registry_files(BUILTIN_MODELS_FILE, paths, "HARNESS_MODELS_FILE")


def models_file(path: str | Path | None = None) -> Path:
    """The last models file read (the user's own, or the packaged one)."""
    return models_files(path)[-1]


def _corpus_files_beside(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A `pretrain: corpus: files:` path is relative to the models file, like a local source."""
    pretrain = entry.get("pretrain")
    corpus = pretrain.get("corpus") if isinstance(pretrain, dict) else None
    if not isinstance(corpus, dict) or not isinstance(corpus.get("files"), list):
        return entry
    files = [str((folder / Path(f).expanduser()).resolve()) if isinstance(f, str) else f for f in corpus["files"]]
    return {**entry, "pretrain": {**pretrain, "corpus": {**corpus, "files": files}}}


def _load_file(file: Path) -> tuple[ModelsFile, dict[str, ModelSpec]]:
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
    return ModelsFile(str(file), defaults, search), models


def load_models(paths: str | Path | list[str | Path] | None = None) -> ModelRegistry:
    """The model registry: the packaged models.yaml plus every models file given (`--models-file`,
    repeatable, or HARNESS_MODELS_FILE). Files add models; a name defined in two files is an error
    naming both. Each file's `defaults` apply to its own models."""
    models: dict[str, ModelSpec] = {}
    files: dict[str, ModelsFile] = {}
    last = None
    for path in models_files(paths):
        last, specs = _load_file(path)
        for name, spec in specs.items():
            if name in models:
                raise SpecError(f"{path}: model '{name}' is already defined in {files[name].path}; rename one of them")
            models[name], files[name] = spec, last
    return ModelRegistry(path=last.path, defaults=last.defaults, models=models, search=last.search, files=files)


