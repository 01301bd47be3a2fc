"""A model's identity, resolved once per run: where its files are and exactly which weights."""
from __future__ import annotations
from harness.spec.models import PACKAGE_PREFIX

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict
from harness.errors import HarnessError
from harness.files import open_binary
from harness.spec.model import ModelSpec


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


class InspectedModel(TypedDict):
    """What planning read from a checkpoint's config and file names (harness.planning.inspect.ModelInfo),
    as a cell's config keeps it."""

    family: str
    max_positions: int | None
    tokenizer_max_length: int | None
    token_type_ids: bool
    tokenizer_files: list[str]
    tokenizer_needs: list[str]
    head_labels: int | None
    problem_type: str | None


class IdentityConfig(TypedDict):
    """What pins a model's weights, as a cell's config (and its hash) keeps it."""

    source: str
    init: str
    revision: str | None
    weights: str
    content_hash: NotRequired[str]
    inspected: NotRequired[InspectedModel]
    pretrain_artifact: NotRequired[str]


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
    info: InspectedModel | None = None  # what planning read from its config (harness.planning.inspect.ModelInfo)
    pretrain_artifact: str | None = None  # the key of the pretraining artifact this model is (harness.planning.pretrain)

    def as_config(self) -> IdentityConfig:
        return {"source": self.source, "init": self.init, "revision": self.revision, "weights": self.weights,
                **({"content_hash": self.content_hash} if self.content_hash else {}),
                **({"inspected": self.info} if self.info else {}),
                **({"pretrain_artifact": self.pretrain_artifact} if self.pretrain_artifact else {})}


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


def model_identity(spec: ModelSpec) -> IdentityConfig:
    """What pins the model's weights, as stored in a record's config."""
    return resolve_identity(spec).as_config()

