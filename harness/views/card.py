"""Model cards for `--save-model` folders, and `harness push` to the Hugging Face Hub.

The card is `README.md` in `RESULTS/<task>/<model>/model-seed-<k>/`, made with huggingface_hub's
card utilities (`ModelCard`, `ModelCardData`, `EvalResult`) from the cell's result record, so
it states exactly what the record holds: the base model, the task and its labels, the recipe,
the seed, the test metrics with their 95% bootstrap CIs (also in the `model-index` metadata,
as each metric's `args`), and the harness version and commit. Scores are in percent.
"""
from __future__ import annotations

from harness.metrics import METRICS as METRICS_REGISTRY, metric_names

import json
import os
import re
from pathlib import Path
from typing import TypedDict

from harness.errors import HarnessError
from harness.files import atomic_write_text, read_json
from harness.records.schema import RecordStatus, ResultRecord, TestMetrics
from harness.views.text import md_code, md_escape

CARD_NAME = "README.md"
PROJECT = "encoder-harness"  # the distribution's name (the PyPI name `harness` is an unrelated project)
PROJECT_URL = "https://pypi.org/project/encoder-harness/"
METRIC_NAMES = {m.name: f"Test {m.title}" for m in METRICS_REGISTRY.values()}
HUB_METRIC = {"accuracy": "accuracy", "macro_f1": "f1", "mcc": "matthews_correlation"}  # the Hub's metric ids
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

- **Task:** `{{ task }}`{{ task_description }}, {{ input }}; labels (id: name): {{ labels }}
- **Base model:** {{ base }}
- **Seed:** {{ seed }}; precision {{ precision }}; {{ steps }} optimizer steps, best step {{ best_step }}
- **Made with:** [{{ project }}]({{ project_url }}) {{ harness_version }}{{ commit }}

## Test results

Scored on the whole test split ({{ n_test }} examples). 95% CI: {{ ci_method }}.

| metric | value (%) | 95% CI (%) |
|---|---:|---:|
{% for m in metrics %}| {{ m.name }} | {{ m.value }} | {{ m.low }} – {{ m.high }} |
{% endfor %}

This is one seed. The harness's leaderboard (`LEADERBOARD.md` of the results folder) gives the
mean and a confidence interval over seeds, which says more about the recipe than one run does.

## Recipe

| hyperparameter | value |
|---|---|
{% for key, value in recipe %}| `{{ key }}` | `{{ value }}` |
{% endfor %}

## Data

{% for row in data_rows %}- {{ row }}
{% endfor %}
## Use

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{{ usage_path }}")
print(classifier({{ example }}))
```

or `harness predict {{ usage_path }} {{ cli_example }}`.
"""


def _hub_id(source: str | None) -> str | None:
    """A Hub model id, or None for a local folder or a packaged model."""
    if not source or source.startswith("package:") or os.path.exists(source) or not HUB_ID.match(source):
        return None
    return source


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * float(value), 2)


def model_card(record: ResultRecord, repo_id: str | None = None):
    """A huggingface_hub ModelCard for a completed record whose cell saved its model."""
    from huggingface_hub import ModelCard, ModelCardData

    if record.status is not RecordStatus.COMPLETED:
        raise HarnessError(f"{record.where}: no card for a failed cell")
    model = record.config.model
    task_spec = record.config.task_spec
    hub = task_spec.get("hub") or {}
    test = record.test
    bootstrap = test.bootstrap
    provenance = record.provenance
    base = _hub_id(model.get("source")) if model.get("init", "pretrained") == "pretrained" else None
    name = repo_id.split("/")[-1] if repo_id else f"{record.model}-{record.task}-seed-{record.seed}"
    results = _eval_results(record, hub, test)
    language = task_spec.get("language")
    data = ModelCardData(
        model_name=name, base_model=base, language=[language] if language else None, library_name="transformers",
        pipeline_tag="text-classification", tags=["text-classification", "harness", f"harness-task-{record.task}"],
        eval_results=results, metrics=sorted({HUB_METRIC.get(m, m) for m in metric_names()}),
    )
    labels = record.labels
    text_columns = task_spec.get("text") or ["text"]
    example = json.dumps({"text": "...", "text_pair": "..."} if len(text_columns) == 2 else "...")
    metrics_rows = [
        {"name": METRIC_NAMES[m], "value": f"{_pct(test.score(m)):.2f}",
         "low": _fmt(test.interval(m).low), "high": _fmt(test.interval(m).high)}
        for m in metric_names() if test.score(m) is not None
    ]
    init = model.get("init", "pretrained")
    training = record.training
    description = str((record.data.task_description if record.data else None)
                      or task_spec.get("description") or "").rstrip(".")
    return ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        title=name,
        summary=(
            f"`{record.model}` fine-tuned on the `{record.task}` text-classification task by "
            f"[{PROJECT}]({PROJECT_URL}) (seed {record.seed})."
            + (" Trained from randomly initialised weights (a from-scratch baseline)." if init == "scratch" else "")
        ),
        task=record.task, task_description=f" ({md_escape(description)})" if description else "",
        project=PROJECT, project_url=PROJECT_URL, data_rows=_data_rows(record),
        input="a text pair (" + " / ".join(text_columns) + ")" if len(text_columns) == 2 else "single text",
        labels=", ".join(f"{i}: {md_code(label)}" for i, label in enumerate(labels)),
        base=(f"[{base}](https://huggingface.co/{base})" if base else f"`{model.get('source')}`")
        + (f" (revision `{model.get('revision')}`)" if model.get("revision") else "")
        + (", architecture only (random initialisation)" if init == "scratch" else ""),
        seed=record.seed, precision=provenance.precision or "n/a",
        steps=training.steps if training else "n/a",
        best_step=training.best_step if training and training.best_step is not None else "n/a",
        harness_version=provenance.harness or "n/a",
        commit=f" (commit `{provenance.git_commit}`)" if provenance.git_commit else "",
        n_test=test.n,
        ci_method=f"{bootstrap.method}, {bootstrap.resamples} resamples" if bootstrap else "n/a, n/a resamples",
        metrics=metrics_rows,
        recipe=sorted(record.config.recipe.items()),
        usage_path=repo_id or record.saved_model or f"{record.task}/{record.model}/model-seed-{record.seed}",
        example=example,
        cli_example='"first text" "second text"' if len(text_columns) == 2 else '"a text"',
    )


def _data_rows(record: ResultRecord) -> list[str]:
    """Where each split came from, its rows and fingerprint: the data provenance of the record."""
    provenance, data = record.provenance, record.data
    rows = data.rows if data else {}
    out = []
    files = provenance.value("data_files")
    for split, source in (files.items() if isinstance(files, dict) else ()):
        count = f"{rows[split]} rows" if split in rows else "rows n/a"
        cut = data.truncated.get(split) if data else None
        out.append(f"**{split}:** {count} from `{source}`" + (f"; {cut} cut at {data.max_length} tokens" if cut else ""))
    if provenance.data_fingerprint:
        out.append(f"**data fingerprint:** `{provenance.data_fingerprint}` (the rows and labels read, as `harness tasks show` prints it)")
    dropped = {k: v for k, v in ((data.dropped_empty if data else None) or {}).items() if v}
    if dropped:
        out.append("**rows dropped (empty text):** " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
    return out or ["not recorded"]


class HubJson(TypedDict, total=False):
    """A task spec's `hub` block as its record keeps it (harness.spec.task.HubSource)."""

    path: str
    name: str | None
    revision: str | None


def _eval_results(record: ResultRecord, hub: HubJson, test: TestMetrics):
    """The model-index entries: every registered test metric in percent, its CI as `args`."""
    from huggingface_hub import EvalResult

    bootstrap = test.bootstrap
    ci_args = {"confidence": bootstrap.confidence if bootstrap else 0.95, "method": bootstrap.method if bootstrap else None,
               "resamples": bootstrap.resamples if bootstrap else None, "unit": "percent"}
    return [
        EvalResult(
            task_type="text-classification", task_name="Text classification",
            dataset_type=hub.get("path") or record.task, dataset_name=record.task,
            dataset_config=hub.get("name"), dataset_split="test", dataset_revision=hub.get("revision"),
            metric_type=HUB_METRIC.get(metric, metric), metric_name=METRIC_NAMES[metric],
            metric_value=_pct(test.score(metric)),
            metric_config="macro" if metric == "macro_f1" else None,
            metric_args={**ci_args, "ci_low": _pct(test.interval(metric).low), "ci_high": _pct(test.interval(metric).high)},
        )
        for metric in metric_names()
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * float(value):.2f}"


def write_model_card(record: ResultRecord, folder: str | Path) -> Path:
    """Write `README.md` (the model card) into a saved model folder, atomically."""
    path = Path(folder) / CARD_NAME
    atomic_write_text(path, str(model_card(record)))
    return path


def write_saved_model_card(record: ResultRecord, log=print) -> Path | None:
    """The runner's call once a cell's record is written: the card is a view of the record, so
    if it cannot be written the record and the saved model stay and the grid goes on."""
    try:
        return write_model_card(record, Path(record.saved_model))
    except Exception as exc:  # noqa: BLE001
        log(f"      model card not written: {type(exc).__name__}: {exc}")
        return None


def push_model(folder: Path, repo_id: str, private: bool = False, revision: str | None = None) -> str:
    """Upload a `--save-model` folder (weights, tokenizer, harness.json, model card) to the Hub."""
    if not HUB_REPO.match(repo_id):
        raise HarnessError(f"--repo-id '{repo_id}': expected ORG/NAME, e.g. my-org/minilm-demo-nli")
    missing = [name for name in ("config.json", "harness.json", CARD_NAME) if not (folder / name).is_file()]
    if missing:
        raise HarnessError(
            f"{folder}: not a saved model folder (missing {', '.join(missing)}); "
            "save one with 'harness run ... --save-model' (RESULTS/<task>/<model>/model-seed-<k>)"
        )
    from huggingface_hub import HfApi
    from huggingface_hub.constants import is_offline_mode

    if is_offline_mode():
        raise HarnessError("cannot push: Hugging Face offline mode is on (HF_HUB_OFFLINE=1); unset it and retry")
    record = _saved_record(folder)
    if record is not None:  # the card's usage snippet names the Hub repository from now on
        atomic_write_text(folder / CARD_NAME, str(model_card(record, repo_id)))
    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", revision=revision,
                          commit_message=f"harness: upload {folder.parent.parent.name}/{folder.parent.name}/{folder.name}")
    except Exception as exc:  # noqa: BLE001 - network, authentication, permissions: one line says which
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise HarnessError(
            f"push to {repo_id} failed: {type(exc).__name__}: {first[:300]} "
            "(check the network and your token: 'hf auth login' or HF_TOKEN)"
        ) from None
    return str(url)


def _saved_record(folder: Path) -> ResultRecord | None:
    """The result record of the cell that saved this model folder, when it is still beside it."""
    from harness.records.store import read_record

    try:
        seed = read_json(folder / "harness.json")["seed"]  # untrusted: the one validating JSON reader
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            return None
        record = read_record(folder.parent / f"seed-{seed}.json")
    except (OSError, ValueError, KeyError, TypeError, HarnessError):
        return None
    return record if record.saved_model and Path(record.saved_model).name == folder.name else None

