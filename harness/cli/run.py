"""`harness run`."""
from __future__ import annotations

import json


def cmd_run(args) -> int:
    from harness.cli.run_options import request_from_args

    request = request_from_args(args)
    return plan_and_execute(request, args.dry_run, args.format)


def plan_and_execute(request, dry_run: bool, fmt: str) -> int:
    """Plan (every usage error exits 2 here), then print the plan or execute it (`run`, `evaluate`)."""
    from harness.api import execute, plan_request

    plan = plan_request(request)
    if dry_run:
        if fmt == "json":
            print(json.dumps(plan.to_json(), indent=1))
        else:
            print(plan.table())
            print(plan.summary())
        return 0
    print(f"harness run: {plan.summary()}", flush=True)
    result = execute(plan, log=lambda m: print(m, flush=True))
    counts = result.counts()
    claimed = f"{counts['claimed']} claimed by another live run (not trained here), " if counts["claimed"] else ""
    print(f"{counts['completed']} cell(s) trained, {counts['skipped']} skipped (record up to date), {claimed}"
          f"{counts['failed']} failed")
    for outcome in result.failed:
        print(f"  failed: {outcome.label}: {outcome.error} ({outcome.path})")
    return 1 if result.failed else 0

