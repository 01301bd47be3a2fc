"""What a model checkpoint brings, read while planning from its config.json and the names of its
tokenizer files (no weights loaded, no tokenizer built): the family, how many tokens it can take,
whether it takes token type ids, the libraries its tokenizer needs, and an existing classification
head. The plan refuses what would break a cell (one line, exit 2) and resolves `max_length: auto`."""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.config_json import ModelConfigJson
from harness.errors import HarnessError
from harness.planning.identity import InspectedModel, ModelIdentity
from harness.spec.recipe import Recipe

# RoBERTa-style position ids start after the padding index: a table of 514 rows holds 512 tokens
PAD_OFFSET_FAMILIES = ("roberta", "camembert", "xlm-roberta", "xlm-roberta-xl", "longformer", "data2vec-text")
# tokenizer classes whose Python code needs a library beyond tokenizers, whatever files they ship
CLASS_NEEDS = {"FlaubertTokenizer": "sacremoses", "XLMTokenizer": "sacremoses", "FSMTTokenizer": "sacremoses"}
SENTENCEPIECE_FILES = ("sentencepiece.bpe.model", "spiece.model", "spm.model", "tokenizer.model")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt", *SENTENCEPIECE_FILES)
# the pip distribution of each import name (all are dependencies of encoder-harness)
DISTRIBUTIONS = {"sentencepiece": "sentencepiece", "sacremoses": "sacremoses", "google.protobuf": "protobuf"}


@dataclass(frozen=True)
class ModelInfo:
    """A checkpoint as its config and file names describe it (recorded in each cell's config)."""

    family: str  # config.json model_type
    max_positions: int | None  # the most tokens one example can have (pad offset applied)
    tokenizer_max_length: int | None  # tokenizer_config.json model_max_length, when a real number
    token_type_ids: bool  # a segment embedding with two or more types (BERT-style pairs)
    tokenizer_files: tuple[str, ...]
    tokenizer_needs: tuple[str, ...]  # import names the tokenizer needs beyond tokenizers
    head_labels: int | None  # a classification head already in the checkpoint: its label count
    problem_type: str | None  # the head's problem_type, if the config says one

    def as_config(self) -> InspectedModel:
        return InspectedModel(**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()})


def max_positions(config: ModelConfigJson) -> int | None:
    """Tokens per example the position table allows: RoBERTa-style families lose pad_token_id + 1
    rows (514 -> 512); ModernBERT's rotary limit is its max_position_embeddings."""
    value = config.get("max_position_embeddings", config.get("n_positions"))
    if not isinstance(value, int) or value <= 0:
        return None
    if config.get("model_type") in PAD_OFFSET_FAMILIES:
        pad = config.get("pad_token_id")
        return value - (pad if isinstance(pad, int) else 1) - 1
    return value


def _needs(files: list[str], tokenizer_class: str | None) -> tuple[str, ...]:
    needs = []
    if tokenizer_class and tokenizer_class.removesuffix("Fast") in CLASS_NEEDS:
        needs.append(CLASS_NEEDS[tokenizer_class.removesuffix("Fast")])
    if "tokenizer.json" not in files and any(f in SENTENCEPIECE_FILES for f in files):
        needs += ["sentencepiece", "google.protobuf"]  # a slow-only folder: converted through sentencepiece's protobuf
    return tuple(needs)


def _read_json(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _hub_files(identity: ModelIdentity) -> tuple[Path | None, Path | None, list[str]]:
    """config.json and tokenizer_config.json of a Hub model (downloaded or from the cache) and the
    repository's file names; (None, None, []) where neither the Hub nor the cache has them."""
    from huggingface_hub import HfApi, constants, hf_hub_download

    def fetch(name: str) -> Path | None:
        try:
            return Path(hf_hub_download(identity.location, name, revision=identity.revision))
        except Exception:  # noqa: BLE001 - not there, or not reachable: nothing to check
            return None

    files: list[str] = []
    if not constants.HF_HUB_OFFLINE:
        try:
            files = list(HfApi().list_repo_files(identity.location, revision=identity.revision))
        except Exception:  # noqa: BLE001
            files = []
    config = fetch("config.json")
    if not files and config is not None:
        files = [p.name for p in config.parent.iterdir()]  # the cached snapshot
    return config, fetch("tokenizer_config.json"), files


def inspect_model(identity: ModelIdentity) -> ModelInfo | None:
    """The checkpoint's ModelInfo, or None where its config cannot be read (the cell reports why)."""
    if identity.local:
        folder = Path(identity.location)
        config_path, tok_path = folder / "config.json", folder / "tokenizer_config.json"
        files = sorted(p.name for p in folder.iterdir() if p.is_file())
    else:
        config_path, tok_path, files = _hub_files(identity)
    config = _read_json(config_path)
    if not config:
        return None
    tok_config = _read_json(tok_path)
    tokenizer_max = tok_config.get("model_max_length")
    architectures = config.get("architectures") or []
    has_head = any(str(a).endswith("ForSequenceClassification") for a in architectures)
    labels = config.get("id2label") or {}
    return ModelInfo(
        family=str(config.get("model_type", "unknown")),
        max_positions=max_positions(config),
        tokenizer_max_length=tokenizer_max if isinstance(tokenizer_max, int) and 0 < tokenizer_max < 1_000_000 else None,
        token_type_ids=int(config.get("type_vocab_size") or 0) > 1,
        tokenizer_files=tuple(f for f in files if f in TOKENIZER_FILES or f.endswith(".model")),
        tokenizer_needs=_needs(files, tok_config.get("tokenizer_class")),
        head_labels=(len(labels) or config.get("num_labels")) if has_head else None,
        problem_type=config.get("problem_type"),
    )


def check_tokenizer_libraries(info: ModelInfo, model: str) -> None:
    """A tokenizer library that is not installed: exit 2 now, not an ImportError in every cell."""
    for module in info.tokenizer_needs:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            dist = DISTRIBUTIONS.get(module, module)
            files = ", ".join(info.tokenizer_files) or "its tokenizer files"
            raise HarnessError(
                f"model '{model}' ({info.family}, {files}) needs the Python package '{dist}' to tokenize: "
                f"pip install {dist} (a dependency of encoder-harness: reinstall it with 'pip install -e .')"
            )


def text_length_bound(data, text_columns: list[str]) -> int:
    """An upper bound on any row's token count, from characters alone (no tokenizer runs while
    planning): a WordPiece, BPE or unigram token covers at least one UTF-8 byte, except the lone
    word-start piece a sentencepiece model may emit once per word, plus 4 special tokens."""
    longest = 0
    for split in data.splits.values():
        columns = split.select_columns(list(text_columns)).to_dict()
        for row in zip(*(columns[c] for c in text_columns)):
            size = sum(len(str(t).encode("utf-8")) + len(str(t).split()) for t in row)
            longest = max(longest, size)
    return longest + 4


def resolve_max_length(requested: int | str, info: ModelInfo | None, text_bound: int | None, where: str) -> int:
    """`max_length: auto`: the model's limit (its positions, or its tokenizer's if smaller) capped
    by the task's longest text, a multiple of 8; an explicit value above the positions: exit 2."""
    limit = info.max_positions if info else None
    if requested != "auto":
        if limit is not None and int(requested) > limit:
            raise HarnessError(
                f"{where}: max_length {requested} is more than the {limit} tokens {info.family} takes "
                f"(max_position_embeddings); set max_length to {limit} or less, or 'auto'"
            )
        return int(requested)
    candidates = [v for v in (limit, info.tokenizer_max_length if info else None) if v]
    model_limit = min(candidates) if candidates else 512
    if text_bound is not None:
        fitted = max(8, -(-text_bound // 8) * 8)
        return min(model_limit, fitted)
    return model_limit


def inspect_grid(tasks, models, identities: dict[str, ModelIdentity | str], recipes: dict[tuple[str, str], Recipe],
                 data) -> None:
    """Inspect every resolvable model once and check it against every task: a missing tokenizer
    library or a max_length above the positions exits 2; `max_length: auto` becomes a number.
    `identities` gain their ModelInfo and `recipes` their resolved max_length, in place."""
    import dataclasses

    infos: dict[str, ModelInfo | None] = {}
    for model in models:
        identity = identities[model.name]
        if not isinstance(identity, ModelIdentity):
            continue  # a model that cannot be resolved fails as a cell
        info = inspect_model(identity)
        if info is not None:
            check_tokenizer_libraries(info, model.name)
            identities[model.name] = dataclasses.replace(identity, info=info.as_config())
        infos[model.name] = info
    bounds: dict[str, int] = {}
    for task in tasks:
        for model in models:
            recipe = recipes[(task.name, model.name)]
            if recipe.max_length == "auto" and task.name not in bounds:
                bounds[task.name] = text_length_bound(data[task.name], list(task.text))
            length = resolve_max_length(recipe.max_length, infos.get(model.name), bounds.get(task.name),
                                        f"task '{task.name}' x model '{model.name}'")
            recipes[(task.name, model.name)] = recipe.model_copy(update={"max_length": length})
