"""Views of pretraining: the report's "does (continued) pretraining pay" table, the leaderboard's
footnote lines for pretrained specs, and the web page's masked-LM loss curves.

A pretrained spec is one whose records' config has a `pretrain` block; its baselines are the
specs with the same source and no `pretrain` block (the source itself, and its from-scratch twin
for a scratch spec pretrained here)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence, TypedDict

from harness.metrics import metric_names
from harness.views.formatting import PRETRAINED_MARK
from harness.records.pretrain import PretrainRecord, load_pretrain_records
from harness.records.schema import ResultRecord


class LossCurve(TypedDict):
    """One pretraining artifact on the web page: its losses and held-out loss curve (inline SVG)."""

    model: str
    key: str
    steps: int | None
    before: float | None
    after: float | None
    svg: str


def pretrained_specs(records: Sequence[ResultRecord]) -> dict[str, dict[str, Any]]:
    """Model name -> its config's model block, for the specs pretrained by the harness."""
    out = {}
    for record in records:
        config = record.config.model
        if config.get("pretrain") and record.model not in out:
            out[record.model] = config
    return out


def pays_rows(records: Sequence[ResultRecord]) -> list[dict[str, Any]]:
    """One row per (pretrained spec, baseline with the same source, task): the difference per metric
    by the seed-and-example test (report_tables.gain_test), or why it cannot be computed."""
    from harness.views.report_tables import FAILED, _by_cell, _completed, gain_test

    specs = pretrained_specs(records)
    others = {r.model: r.config.model for r in records if r.model not in specs}
    cells = _by_cell(records)
    rows = []
    for model, config in sorted(specs.items()):
        baselines = sorted(m for m, c in others.items() if c.get("source") == config.get("source"))
        for base in baselines:
            for task in sorted({t for (t, m) in cells if m == model}):
                mine, theirs = cells.get((task, model), []), cells.get((task, base), [])
                if not theirs:
                    continue
                row = {"model": model, "baseline": base, "baseline_init": others[base].get("init"), "task": task,
                       "seeds": (len(_completed(mine)), len(_completed(theirs)))}
                for metric in metric_names():
                    failed = not _completed(mine) or not _completed(theirs)
                    row[metric] = FAILED if failed else gain_test(mine, theirs, metric)
                rows.append(row)
    return rows


def _budget(config: dict[str, Any]) -> str:
    p = config["pretrain"]
    corpus = p.get("corpus") or {}
    parts = [f"task {t} ({'/'.join(corpus.get('splits') or ['train'])})" for t in corpus.get("tasks") or []]
    parts += [f"file {Path(f).name}" for f in corpus.get("files") or []]
    if corpus.get("hub"):
        parts.append(f"hub {corpus['hub'].get('path')}")
    tokenizer = config.get("tokenizer") or {}
    own = f", own tokenizer ({tokenizer.get('vocab_size')} pieces)" if tokenizer.get("train") else ""
    return (f"{'from random weights' if config.get('init') == 'scratch' else 'continued'} masked-LM pretraining on "
            f"{' + '.join(parts) or 'n/a'}: {p.get('max_steps')} steps × {p.get('batch_size')} texts, "
            f"lr {p.get('learning_rate')}, mlm {p.get('mlm_probability')}{own}; artifact {config.get('pretrain_artifact')}")


def footnote_lines(records: Sequence[ResultRecord]) -> list[str]:
    specs = pretrained_specs(records)
    if not specs:
        return []
    return [f"{PRETRAINED_MARK} (after the model's name): pretrained by the harness before fine-tuning "
            "(docs/pretraining.md): " + "; ".join(
        f"`{model}` from `{config.get('source')}`, {_budget(config)}" for model, config in sorted(specs.items())) + "."]


def report_section(results: Path, records: Sequence[ResultRecord]) -> list[str]:
    from harness.views.report_tables import CI_METHOD, _gain_cell, _md_table

    out = ["## Does (continued) pretraining pay", ""]
    rows = pays_rows(records)
    if not rows:
        return out + ["No spec with a `pretrain:` block next to a spec of the same source in these results."]
    artifacts = {a.model: a for a in load_pretrain_records(results)}
    out += [f"Pretrained spec minus its baseline (same source, no pretraining), in points. 95% CI and p: {CI_METHOD}.", ""]
    table = []
    for row in rows:
        art = artifacts.get(row["model"])
        loss = (f"{art.before.loss:.2f} → {art.after.loss:.2f}" if art and art.before and art.after else "n/a")
        cells = [v for metric in ("accuracy", "macro_f1") for v in _gain_cell(row[metric])]
        table.append([row["model"], f"{row['baseline']} ({row['baseline_init']})", row["task"],
                      f"{row['seeds'][0]} / {row['seeds'][1]}", art.steps if art and art.steps is not None else "n/a",
                      loss, *cells])
    out.append(_md_table(["pretrained", "baseline", "task", "seeds", "steps", "held-out MLM loss", "Δ accuracy",
                          "95% CI, p", "Δ macro-F1", "95% CI, p"], table))
    return out


def loss_curves(results: Path | None) -> list[LossCurve]:
    """Per artifact: its model, key, losses and the held-out masked-LM loss curve as inline SVG."""
    if results is None or not Path(results).is_dir():
        return []
    return [LossCurve(model=a.model, key=a.key, steps=a.steps, before=a.before.loss if a.before else None,
                      after=a.after.loss if a.after else None, svg=_curve_svg(a))
            for a in load_pretrain_records(results)]


def _curve_svg(artifact: PretrainRecord) -> str:
    from matplotlib.figure import Figure
    import matplotlib

    history = artifact.history
    fig = Figure(figsize=(5, 2.6))
    ax = fig.add_subplot()
    for key, label in (("train_loss", "training"), ("heldout_loss", "held-out")):
        points = [(h.step, getattr(h, key)) for h in history if getattr(h, key) is not None]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=label)
    if artifact.before:
        ax.axhline(artifact.before.loss, color="grey", linestyle=":", label="held-out, before")
    ax.set_xlabel("step")
    ax.set_ylabel("masked-LM loss")
    ax.set_title(f"{artifact.model} ({artifact.key})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"harness-pretrain-{artifact.key}"}):
        fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]
