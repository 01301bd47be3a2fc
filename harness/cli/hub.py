"""`harness push`."""
from __future__ import annotations

from pathlib import Path


def cmd_push(args) -> int:
    from harness.views.card import push_model

    print(f"pushed: {push_model(Path(args.model_dir), args.repo_id, private=args.private, revision=args.revision)}")
    return 0


