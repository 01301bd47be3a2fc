"""`harness compare`."""
from __future__ import annotations
from harness.views.compare import compare

from pathlib import Path


# --------------------------------------------------------------------------- CLI
def cli_main(args) -> int:
    if args.output:
        from harness.files import check_output_file

        check_output_file(Path(args.output), "--output")  # before minutes of bootstrap
    result = compare(
        args.candidate, args.baseline, metrics=args.metrics, max_drop=args.max_drop, alpha=args.alpha,
        resamples=args.resamples, tasks=args.tasks, models=args.models, require_all=args.require_all,
    )
    text = result.render(args.format)
    print(text, end="" if text.endswith("\n") else "\n")
    if args.output:
        from harness.files import atomic_write_text

        atomic_write_text(Path(args.output), text)
    return result.exit_code
