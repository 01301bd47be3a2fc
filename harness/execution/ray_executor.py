"""The Ray executor: every cell a Ray task, one device per cell, retries for lost workers."""
from __future__ import annotations

import os
from typing import Callable
from harness.env import ray_connect_timeout_s
from harness.errors import HarnessError
from harness.execution.execute import CellOutcome, execute_cell, record_failure
from harness.planning.cells import Cell, Plan
from harness.planning.request import Execution, Outputs
from harness.execution.progress import GridProgress
from harness.planning.context import RunContext

CELL_RETRIES = 2  # a cell whose worker process or node died is run again this many times


def _ray():
    try:
        import ray
    except ImportError:
        raise HarnessError("--executor ray needs Ray: pip install 'encoder-harness[ray]' (or pip install ray)") from None
    return ray


def init_ray(request: Execution):
    """Join the cluster at --ray-address / RAY_ADDRESS, or start a local Ray instance with this
    machine's CPUs and GPUs. An instance already started in this process (ray.init) is used."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    address = request.ray_address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            check_reachable(address, ray_connect_timeout_s())
            ray.init(address=address, log_to_driver=True)
        else:
            import torch

            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
            ray.init(num_cpus=os.cpu_count(), num_gpus=gpus, include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise HarnessError(f"cannot start or join {where}: {str(exc).splitlines()[0]}") from None
    return ray


def check_reachable(address: str, timeout: float) -> None:
    """Ray retries a silent head node forever (and ignores SIGTERM meanwhile): knock on its port
    first, with a deadline (HARNESS_RAY_CONNECT_TIMEOUT_S), and fail with one line if nobody
    answers. `auto` / `local` (a cluster on this machine, found by Ray itself) are not probed."""
    import socket
    from urllib.parse import urlsplit

    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port or (10001 if address.startswith("ray://") else 6379)
    except ValueError:
        host, port = None, None
    if not host:
        raise HarnessError(f"--ray-address {address!r}: expected HOST:PORT (or ray://HOST:PORT, or auto)")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, (socket.timeout, TimeoutError)) else (exc.strerror or str(exc))
        raise HarnessError(
            f"--ray-address {address}: {reason} from {host}:{port} within {timeout:g} s; check that the Ray head "
            "is up and the port open (the wait is HARNESS_RAY_CONNECT_TIMEOUT_S)"
        ) from None


def _resources(ray, request: Execution) -> tuple[float, int]:
    gpus = request.gpus_per_cell
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    return float(gpus), int(request.cpus_per_cell or 1)


def _worker_device():
    """Inside a Ray task: Ray has set CUDA_VISIBLE_DEVICES to the GPUs it reserved for it."""
    from harness.device import choose_device

    return choose_device("auto")


def _probe(requested: str):
    from harness.device import choose_precision

    device = _worker_device()
    if device.type == "cpu" and requested == "fp16":
        return device, None, None
    return (device, *choose_precision(requested, device.index or 0))


def ray_probe(request: Execution):
    """Device and precision as a cell's worker sees them, asked of one Ray task with the cells'
    resources: the driver (a login node, say) may have no GPU while the workers do."""
    ray = init_ray(request)
    gpus, cpus = _resources(ray, request)
    total = ray.cluster_resources()
    if gpus > total.get("GPU", 0) or cpus > total.get("CPU", 0):
        raise HarnessError(
            f"each cell asks for {gpus:g} GPU(s) and {cpus} CPU(s) but the Ray cluster has "
            f"{total.get('GPU', 0):g} GPU(s) and {total.get('CPU', 0):g} CPU(s); lower --gpus-per-cell / --cpus-per-cell"
        )
    device, precision, reason = ray.get(ray.remote(_probe).options(num_gpus=gpus, num_cpus=cpus).remote(request.precision))
    if precision is None:
        raise HarnessError("--precision fp16 needs a CUDA GPU; the Ray workers have none (use --gpus-per-cell 1 or bf16/fp32)")
    return device, precision, f"{reason} (on a Ray worker)"


def _ray_cell(cell: Cell, data, outputs: Outputs, execution: Execution, ctx: RunContext, index: int, total: int,
              artifact=None) -> CellOutcome:
    """`artifact`: the PretrainOutcome of the pretraining task this cell needs. It is passed as an
    ObjectRef, so Ray starts this task only once that one has finished (a task dependency)."""
    import ray
    import torch

    if artifact is not None and artifact.status == "failed" and not cell.error:
        cell.error = f"pretraining '{artifact.model}' failed: {artifact.error}"
    if execution.cpus_per_cell:
        torch.set_num_threads(execution.cpus_per_cell)
    worker = ctx.on_worker(_worker_device(), ray.get_runtime_context().get_node_id())
    print(f"[{index}/{total}] start {cell.label} on {worker.host} {worker.device.torch_device} ({ctx.precision})", flush=True)
    return execute_cell(cell, data, outputs, worker, log=lambda m: print(m, flush=True), force=execution.force,
                        checkpoint=execution.checkpoint)


def _ray_pretrain(step, request: Execution, ctx: RunContext):
    import ray
    import torch

    from harness.execution.pretrain import execute_pretraining

    if request.cpus_per_cell:
        torch.set_num_threads(request.cpus_per_cell)
    worker = ctx.on_worker(_worker_device(), ray.get_runtime_context().get_node_id())
    print(f"pretrain {step.label} on {worker.host} {worker.device.torch_device}", flush=True)
    outcome = execute_pretraining(step, request, worker, log=lambda m: print(m, flush=True))
    print(f"      {outcome.status}: {outcome.summary or outcome.error}", flush=True)
    return outcome


def _artifact_refs(ray, plan: Plan, gpus: float, cpus: int) -> dict:
    """One Ray task per pretraining artifact the cells need: model name -> its ObjectRef."""
    remote = ray.remote(_ray_pretrain).options(num_gpus=gpus, num_cpus=cpus, max_retries=CELL_RETRIES,
                                               retry_exceptions=False)
    return {step.name: remote.remote(step, plan.execution, plan.context) for step in plan.pretraining_to_run()}


def run_ray(plan: Plan, log: Callable[[str], None]) -> list[CellOutcome]:
    ray = init_ray(plan.execution)
    gpus, cpus = _resources(ray, plan.execution)
    cells = sorted(plan.to_run(), key=lambda c: -c.cost)  # longest first
    if not cells:
        return []
    total = ray.cluster_resources()
    slots = min(int(total.get("CPU", 1) // cpus), int(total.get("GPU", 0) // gpus) if gpus else len(cells))
    progress = GridProgress(len(cells), max(1, min(slots, len(cells))), log)
    log(f"ray: {len(cells)} cell(s), {gpus:g} GPU and {cpus} CPU each, up to {progress.parallel} at a time")
    remote = ray.remote(_ray_cell).options(num_gpus=gpus, num_cpus=cpus, max_retries=CELL_RETRIES,
                                           retry_exceptions=False)
    data_refs = {name: ray.put(data) for name, data in plan.data.items()}
    artifacts = _artifact_refs(ray, plan, gpus, cpus)  # cells without one run meanwhile
    pending = {
        remote.remote(cell, data_refs[cell.task.name], plan.outputs, plan.execution, plan.context, i, len(cells),
                      artifacts.get(cell.model.name)): cell
        for i, cell in enumerate(cells, 1)
    }
    outcomes = []
    try:
        _collect(ray, pending, plan, progress, outcomes)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop the cells so they remove their work folders and claims
        for ref in pending:
            ray.cancel(ref)
        ray.wait(list(pending), num_returns=len(pending), timeout=30)
        raise
    return outcomes


def _collect(ray, pending: dict, plan: Plan, progress: GridProgress, outcomes: list[CellOutcome]) -> None:
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(done[0])
        try:
            outcome = ray.get(done[0])
        except Exception as exc:  # noqa: BLE001 - the worker or its node was lost past the retries
            outcome = record_failure(cell, plan.context, exc, plan.context.precision)
        progress.report(outcome)
        outcomes.append(outcome)
