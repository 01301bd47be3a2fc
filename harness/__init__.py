"""harness: fine-tune pretrained transformer encoders on text-classification tasks and rank them honestly.

Python API (the CLI's commands as functions; heavy libraries load on first use):
    harness.plan(**run_options)    -> the validated plan of cells (harness.planner.Plan)
    harness.run(**run_options)     -> plan, execute, leaderboard (harness.api.RunResult)
    harness.load(results)          -> the typed records: .to_pandas(), .leaderboard(), .compare(baseline)
    harness.assert_no_regression(candidate, baseline, max_drop=0.5)
"""

__version__ = "0.1.0"

_LAZY = {"assert_no_regression": "views.compare", "plan": "api", "run": "api", "load": "api"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    # Lazy: `import harness` stays light; torch, transformers and scipy load on first use.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
