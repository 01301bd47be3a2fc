"""Execution: claim, train, apply the failure policy, build and write the record; the executors
(a small registry: local, ray), the trials -> finals phases of a search, progress lines."""
