"""Errors the CLI turns into one-line messages and exit code 2."""


class HarnessError(Exception):
    """A problem with the user's input: spec, data, arguments. The message says what to do."""


class SpecError(HarnessError):
    """A task or model spec file that does not validate."""


class DataError(HarnessError):
    """A data file that is missing, malformed or holds an unknown label."""
