"""The validation split carved out of train (`validation_from_train`): seeded, stratified by label."""
from __future__ import annotations

import math

from harness.errors import DataError
from harness.spec.task import TaskSpec


def carve_validation(spec: TaskSpec, train, train_file: str):
    """(train, validation, how) of the seeded carve-out, stratified by label unless the spec says
    `stratify: false` or a label has too few rows to be split (then plain, and `how` says so)."""
    carve = spec.validation_from_train
    n_train = len(train)
    if n_train - math.ceil(carve.fraction * n_train) < 1:
        raise DataError(
            f"task '{spec.name}': train has {n_train} row(s), too few to carve a {carve.fraction:.0%} "
            f"validation split out of it ({train_file})"
        )
    how = f"{carve.fraction:.0%} of train, seed {carve.seed}"
    parts = None
    if carve.stratify:
        try:
            parts = train.train_test_split(test_size=carve.fraction, seed=carve.seed, shuffle=True,
                                           stratify_by_column="label")
            how += ", stratified by label"
        except ValueError:  # a label with one row, or fewer validation rows than labels
            how += ", not stratified (too few rows per label)"
    if parts is None:
        parts = train.train_test_split(test_size=carve.fraction, seed=carve.seed, shuffle=True)
    return parts["train"], parts["test"], how
