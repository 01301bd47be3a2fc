"""`harness leaderboard`."""
from __future__ import annotations
from harness.views.leaderboard import load_leaderboard, render

from pathlib import Path
from harness.files import check_output_file
from harness.files import atomic_write_text


def cli_main(args) -> int:
    if getattr(args, "output", None):
        check_output_file(Path(args.output), "--output")  # before reading every record
    board = load_leaderboard(args.results)
    output = getattr(args, "output", None)
    page_dir = Path(output).parent if output else None
    text = render(board, getattr(args, "format", "md") or "md", args.results, page_dir)
    if output:
        atomic_write_text(Path(output), text)
        print(f"leaderboard: {output}")
    else:
        print(text, end="")
    return 0


