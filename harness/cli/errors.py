"""`harness errors`."""
from __future__ import annotations

from pathlib import Path

from harness.files import atomic_write_text, check_output_file
from harness.views.errors import build_errors


def cli_main(args) -> int:
    if args.output:
        check_output_file(Path(args.output), "--output")  # before reading records and data
    report = build_errors(args.results, args.task, args.model, tasks_dir=args.tasks_dir, data_dir=args.data_dir,
                          sort=args.sort, limit=args.limit)
    if args.format == "html":
        from harness.views.errors_page import render_errors_html

        text = render_errors_html(report, back="LEADERBOARD.html")
    else:
        text = report.render(args.format)
    if args.output:
        atomic_write_text(Path(args.output), text)
        print(f"errors: {args.output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0
