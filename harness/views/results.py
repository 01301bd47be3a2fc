"""`harness.load(results)`: a results folder for a notebook.

    results = harness.load("results/demo")
    results.records           # the typed ResultRecords (validated; failed ones included)
    results.to_pandas()       # one row per task x model x seed: status, test metrics, config hash, ...
    results.leaderboard()     # the Leaderboard of `harness leaderboard` (.to_markdown(), .to_json(), ...)
    results.compare("results/main")  # the ComparisonResult of `harness compare` (candidate: these records)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness.metrics import metric_names
from harness.records.store import ResultRecord, load_records


@dataclass
class Results:
    source: str
    records: list[ResultRecord]  # typed and validated, failed ones included (what the views take)

    @classmethod
    def load(cls, results: str | Path) -> "Results":
        return cls(str(results), load_records(results))

    def __len__(self) -> int:
        return len(self.records)

    def to_pandas(self):
        """One row per task x model x seed: status, error, every registered test metric, the
        config hash and the main provenance facts."""
        import pandas as pd

        rows = []
        for record in self.records:
            test = record.metrics.test if record.metrics is not None else None
            model = record.model
            rows.append({
                "task": record.task, "model": model, "variant": model.split("@", 1)[1] if "@" in model else None,
                "seed": record.seed, "status": str(record.status), "error": record.error,
                **{m: test.score(m) if test else None for m in metric_names()},
                "n_test": test.n if test else None, "config_hash": record.config_hash,
                **{k: record.provenance.value(k) for k in ("device", "precision", "harness", "transformers")},
            })
        columns = ["task", "model", "variant", "seed", "status", "error", *metric_names(), "n_test", "config_hash",
                   "device", "precision", "harness", "transformers"]
        return pd.DataFrame(rows, columns=columns).sort_values(["task", "model", "seed"], ignore_index=True)

    def leaderboard(self):
        from harness.views.leaderboard import build_leaderboard

        return build_leaderboard(self.records)

    def compare(self, baseline: Any, metrics: Sequence[str] | None = None, **options: Any):
        """These records (the candidate) against a baseline: a results folder, a baseline file,
        records or another `Results`. Options: those of `harness.views.compare.compare`."""
        from harness.views.compare import compare

        base = baseline.records if isinstance(baseline, Results) else baseline
        return compare(self.records, base, **({"metrics": metrics} if metrics else {}), **options)
