"""Errors the CLI turns into one-line messages and exit code 2."""


class HarnessError(Exception):
    """A problem with the user's input: spec, data, arguments. The message says what to do."""


class SpecError(HarnessError):
    """A task or model spec file that does not validate."""


class DataError(HarnessError):
    """A data file that is missing, malformed or holds an unknown label."""


def check_number(name: str, value, low: float, high: float, *, integer: bool = False,
                 low_open: bool = False, high_open: bool = False):
    """A number from a user (an option, an API argument): finite (NaN and infinities refused),
    an int where `integer`, and inside [low, high] (or the open ends); else a one-line HarnessError."""
    import math

    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer() if isinstance(value, float) else True
    if ok:
        ok = math.isfinite(value) and (low < value if low_open else low <= value) and (
            value < high if high_open else value <= high)
    if not ok:
        kind = "a whole number" if integer else "a number"
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise HarnessError(f"{name} {value!r}: expected {kind} in {span}")
    return value
