"""`harness report`."""
from __future__ import annotations
from harness.views.report import write_report



def cli_main(args) -> int:
    path = write_report(args.results)
    print(f"report: {path}")
    return 0
