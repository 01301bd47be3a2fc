"""`harness baseline export`."""
from __future__ import annotations
from harness.records.baselines import export_baseline

from harness.errors import HarnessError


# --------------------------------------------------------------------------- CLI
def cli_main(args) -> int:
    if args.baseline_command != "export":  # argparse only allows export today
        raise HarnessError(f"unknown baseline command '{args.baseline_command}'")
    summary = export_baseline(args.results, args.output)
    line = f"baseline: wrote {summary['output']} ({summary['cells']} cell(s), {summary['seeds']} seed run(s)"
    left_out = summary["left_out"]
    if left_out:
        names = ", ".join(f"{d['task']} / {d['model']} / seed {d['seed']}" for d in left_out[:5])
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        line += f"; {len(left_out)} failed record(s) left out: {names}{more}"
    else:
        line += "; no failed records"
    print(line + ")")
    return 0
