"""`harness run`."""
from __future__ import annotations
from harness.cli.parser import search_block

import json


def cmd_run(args) -> int:
    from harness.api import execute
    from harness.planning.request import RunRequest
    from harness.planning.planner import make_plan

    request = RunRequest(
        suite=args.suite, tasks=args.tasks, models=args.models, seeds=args.seeds, seed_list=args.seed_list,
        data_dir=args.data_dir, results=args.results, precision=args.precision, overrides=dict(args.overrides),
        max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples, force=args.force,
        save_model=args.save_model, tensorboard=args.tensorboard, report_to=args.report_to, plots=not args.no_plots,
        leaderboard=not args.no_leaderboard, tasks_dir=args.tasks_dir, models_file=args.models_file,
        executor=args.executor, device=args.device, gpus_per_cell=args.gpus_per_cell,
        cpus_per_cell=args.cpus_per_cell, ray_address=args.ray_address, checkpoint=args.checkpoint,
        search=search_block(args), no_search=args.no_search,
    )
    plan = make_plan(request)
    if args.dry_run:
        if args.format == "json":
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

