"""Model construction for a cell: tokenizer, classifier (pretrained or from scratch), parameter counts."""
from __future__ import annotations

import logging
from typing import Any, Callable, TypedDict

from harness.planning.identity import ModelIdentity, resolve_identity

from harness.records.schema import HeadFacts
from harness.spec.model import ModelSpec


# --------------------------------------------------------------------------- building
def _identity(model: ModelSpec | ModelIdentity) -> ModelIdentity:
    return model if isinstance(model, ModelIdentity) else resolve_identity(model)


def load_tokenizer(model: ModelSpec | ModelIdentity):
    from transformers import AutoTokenizer

    identity = _identity(model)
    return AutoTokenizer.from_pretrained(identity.location, revision=identity.revision, trust_remote_code=False)


LOG = logging.getLogger("harness")


def head_facts(identity: ModelIdentity) -> HeadFacts:
    """What the record says about the classification head: always a new one, initialised from the
    seed; `replaced` when the checkpoint had one (its label count and problem_type, as planning
    read them from config.json)."""
    info = identity.info or {}
    if identity.init == "scratch" or info.get("head_labels") is None:
        return HeadFacts(initialised="seed", replaced=False)
    return HeadFacts(initialised="seed", replaced=True, checkpoint_labels=info["head_labels"],
                     checkpoint_problem_type=info.get("problem_type"))


class LabelSettings(TypedDict):
    """The config settings that make a classifier of the task's labels (single-label)."""

    num_labels: int
    id2label: dict[int, str]
    label2id: dict[str, int]
    problem_type: str


def _from_config(identity: ModelIdentity, labels: LabelSettings, seed: int):
    """`init: scratch`: the architecture of the source's config, every weight initialised under the seed."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(identity.location, revision=identity.revision, trust_remote_code=False, **labels)
    return AutoModelForSequenceClassification.from_config(config)


def _from_checkpoint(identity: ModelIdentity, labels: LabelSettings, seed: int):
    """The pretrained body and a new head initialised under the seed (transformers' load report to the log)."""
    from transformers import AutoModelForSequenceClassification

    # the identity refused a pickle-only folder without the opt-in; None: safetensors first, then the pickle
    classifier, report = AutoModelForSequenceClassification.from_pretrained(
        identity.location,
        revision=identity.revision,
        trust_remote_code=False,
        use_safetensors=None if "pickle" in identity.weights else True,
        ignore_mismatched_sizes=True,
        output_loading_info=True,
        **labels,
    )
    _log_report(identity.name, report, classifier.base_model_prefix)
    _fresh_head(classifier, report, seed)
    return classifier


# How a cell builds its classifier, by the model's start: "scratch" from the config alone, "pretrained"
# (and a pretraining artifact) from the checkpoint's weights. A new way to start a model is one entry
# here; a caller may wrap an entry (tests wrap "pretrained" to act as a device that runs out of memory).
CLASSIFIERS: dict[str, Callable[[ModelIdentity, LabelSettings, int], Any]] = {
    "pretrained": _from_checkpoint,
    "scratch": _from_config,
}


def build_model(model: ModelSpec | ModelIdentity, labels: list[str], seed: int):
    """A sequence classifier with `len(labels)` outputs, the label names in its config and a
    single-label problem type, built by CLASSIFIERS for the model's `init`.

    The classification head (and, for `init: scratch`, every weight) is initialised under
    `seed`, so seeds change the head, never the pretrained body. A head the checkpoint already
    has (a model fine-tuned on another task) is replaced by a new one too, whatever its shape
    (`ignore_mismatched_sizes`); transformers' load report goes to the harness log."""
    from transformers import set_seed

    identity = _identity(model)
    settings = LabelSettings(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        problem_type="single_label_classification",  # a multi-label head's config would change the loss
    )
    set_seed(seed)
    return CLASSIFIERS["scratch" if identity.init == "scratch" else "pretrained"](identity, settings, seed)


def _log_report(name: str, report: dict, head_prefix: str) -> None:
    """transformers' load report, to the harness log: a warning where it says more than the new
    head a pretrained body needs (body weights missing, shapes that did not fit), else info
    (an MLM checkpoint's unused prediction head is expected)."""
    for kind in ("missing_keys", "mismatched_keys", "unexpected_keys"):
        keys = sorted(str(k[0] if isinstance(k, tuple) else k) for k in report.get(kind) or ())
        if not keys:
            continue
        body = [k for k in keys if k.startswith(head_prefix + ".")]
        level = logging.WARNING if kind == "mismatched_keys" or (kind == "missing_keys" and body) else logging.INFO
        LOG.log(level, "model '%s' load report: %d %s: %s%s", name, len(keys), kind.replace("_", " "),
                ", ".join(keys[:6]), " ..." if len(keys) > 6 else "")


def _fresh_head(classifier, report: dict, seed: int) -> None:
    """Initialise under `seed` every module outside the encoder body whose weights came from the
    checkpoint (an old head); the ones transformers initialised itself were already seeded."""
    import torch
    from transformers import set_seed

    fresh = {str(k[0] if isinstance(k, tuple) else k) for k in report.get("missing_keys") or ()}
    fresh |= {str(k[0] if isinstance(k, tuple) else k) for k in report.get("mismatched_keys") or ()}
    prefix = classifier.base_model_prefix
    loaded = [n for n, _ in classifier.named_parameters() if not n.startswith(prefix + ".") and n not in fresh]
    if not loaded:
        return
    set_seed(seed)
    modules = {n.rsplit(".", 1)[0] for n in loaded}
    with torch.no_grad():
        for name, module in classifier.named_modules():
            if name in modules:
                for tensor in module.parameters(recurse=False):
                    tensor._is_hf_initialized = False
                classifier._init_weights(module)
    LOG.warning("the checkpoint's classification head (%s) was replaced by a new one initialised from seed %d",
                ", ".join(sorted(loaded)[:4]), seed)


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings." in name)
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}
