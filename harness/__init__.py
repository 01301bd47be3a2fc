"""harness: fine-tune pretrained transformer encoders on text-classification tasks and rank them honestly."""

__version__ = "0.1.0"

__all__ = ["__version__", "assert_no_regression"]


def __getattr__(name: str):
    # Lazy: `import harness` stays light; harness.compare (numpy, scipy) loads on first use.
    if name == "assert_no_regression":
        from .compare import assert_no_regression

        return assert_no_regression
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"assert_no_regression"})
