"""Run a grid into a store, resumably: :func:`run_grid`.

The runner expands the configuration, drops runs whose key is already in the store, and trains
the rest — in worker processes (``workers > 1``, spawn context, ``threads`` torch threads each),
in this process, or data-parallel under ``torchrun`` (each run on all ranks; see
:mod:`.distributed`). Only this process (rank 0 under torchrun) writes the store, one
transaction per finished run, as runs finish; a run that raises is logged in the store's
``failures`` table and stays pending, so the next invocation retries it.

Worker processes never outlive this process: if it stops on an exception (``KeyboardInterrupt``
included) the workers are terminated at once (their runs in hand were not stored and are redone
by the next invocation), and if it dies outright (any signal, ``SIGKILL`` too) they exit on
their own — on Linux by the parent-death signal, everywhere by a watchdog thread that sees the
parent gone within a second. With no worker left, multiprocessing's resource tracker (which
shares this process's stdout and stderr) sees its pipe close and exits as well, so a caller
reading this process's output gets end-of-file.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from multilabel_ls.strategies import make_config

from .config import ConfigError, ExperimentConfig, RunSpec
from .distributed import DistContext
from .prepare import cached_dataset
from .store import ResultStore
from .training import loss_kwargs, run_one


@dataclasses.dataclass
class GridSummary:
    """What :func:`run_grid` did: counts, failures and wall time."""

    total: int
    skipped: int
    completed: int
    failed: list[dict[str, str]]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every run of the grid is in the store."""
        return not self.failed


def check_grid(config: ExperimentConfig) -> None:
    """Fail fast, before any training, on what would make runs fail: data sets and strategies.

    Raises
    ------
    ConfigError
        Naming the field (``datasets[i]``, ``strategies[i]``) and the underlying reason.
    """
    for i, name in enumerate(config.datasets):
        try:
            ds = cached_dataset(name, config.data_dir)
        except Exception as e:  # loaders raise ValueError/OSError/...; report them all alike
            raise ConfigError(f"datasets[{i}]: cannot load {name!r}: {e}") from None
        if ds.n_train < 4:
            raise ConfigError(f"datasets[{i}]: {name!r} has only {ds.n_train} training rows")
    runs = config.expand()
    for i, s in enumerate(config.strategies):
        spec = next(r for r in runs if r.strategy == s)
        try:
            make_config(**loss_kwargs(spec, np.ones((2, 2), dtype=np.float32)))
        except ValueError as e:
            raise ConfigError(
                f"strategies[{i}] ({s!r}) with train.empty_rows/full_rows: {e}"
            ) from None


def pending_runs(config: ExperimentConfig, store: ResultStore) -> tuple[list[RunSpec], int]:
    """Unique runs of the grid not yet in ``store``, and how many were skipped as done."""
    unique = list({r.key: r for r in config.expand()}.values())
    done = store.done_keys()
    todo = [r for r in unique if r.key not in done]
    return todo, len(unique) - len(todo)


#: Seconds between two looks of a worker's watchdog at its parent.
WATCHDOG_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(WATCHDOG_INTERVAL)
        if os.getppid() != parent_pid:  # re-parented: the parent is gone
            os._exit(1)


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when process ``parent_pid`` dies, however it dies."""
    if sys.platform.startswith("linux"):
        try:  # the kernel sends SIGKILL the moment the parent exits
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog alone
            pass
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    # Portable, and a second line on Linux (the death signal follows the thread that spawned).
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="mlls-parent-watchdog",
                     daemon=True).start()  # fmt: skip


def _worker_init(threads: int, parent_pid: int | None = None) -> None:
    import torch

    # Ctrl-C goes to the whole process group; the parent alone handles it (it stops the grid
    # and terminates the workers), so workers ignore SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    torch.set_num_threads(threads)


def _safe_run(spec: RunSpec, threads: int) -> dict[str, Any]:
    try:
        return run_one(spec, threads=threads)
    except Exception as e:  # one bad run must not stop the grid; it is logged and retried
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                "key": spec.key, "label": spec.label}  # fmt: skip


def run_grid(
    config: ExperimentConfig,
    store_path: str | Path,
    *,
    workers: int = 2,
    threads: int = 1,
    progress: bool = True,
    ctx: DistContext | None = None,
) -> GridSummary:
    """Train every run of ``config`` that is not yet in the store at ``store_path``.

    Parameters
    ----------
    config : ExperimentConfig
        The grid.
    store_path : str or Path
        SQLite store (created if missing).
    workers : int
        Worker processes (``1``: train in this process). Ignored under torchrun, where every
        rank trains each run data-parallel.
    threads : int
        Torch threads per run (pinned so that results do not depend on the schedule).
    progress : bool
        Show a tqdm progress bar (rank 0 only).
    ctx : DistContext, optional
        Data-parallel context from :func:`.distributed.init_from_env`.

    Returns
    -------
    GridSummary
    """
    ctx = ctx or DistContext()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
    t0 = time.perf_counter()
    check_grid(config)
    store = ResultStore(store_path) if ctx.is_main else None
    if store is not None:
        store.set_meta("name", config.name)
    todo, skipped = pending_runs(config, store) if store is not None else ([], 0)
    todo, skipped = ctx.broadcast((todo, skipped))
    failed: list[dict[str, str]] = []
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not (progress and ctx.is_main))

    def handle(res: dict[str, Any]) -> None:
        if "error" in res:
            failed.append({"key": res["key"], "label": res["label"], "error": res["error"]})
            if store is not None:
                store.record_failure(res["key"], res["label"], res["error"], res["traceback"])
        elif store is not None:
            store.put(res)
        bar.update(1)
        bar.set_postfix_str(res.get("label", res["key"])[-48:] if "error" in res else
                            f"{res['spec']['strategy']} eps={res['spec']['epsilon']}")  # fmt: skip

    try:
        if ctx.enabled or workers == 1 or len(todo) <= 1:
            for spec in todo:
                if ctx.enabled:
                    res = run_one(spec, ctx=ctx, threads=threads)  # errors must stop all ranks
                else:
                    res = _safe_run(spec, threads)
                handle(res)
        else:
            _run_pool(todo, workers, threads, handle)
    finally:
        bar.close()
        if store is not None:
            store.close()
    ctx.barrier()
    return GridSummary(len(todo) + skipped, skipped, len(todo) - len(failed), failed,
                       time.perf_counter() - t0)  # fmt: skip


def _run_pool(todo: list[RunSpec], workers: int, threads: int, handle) -> None:
    """Train ``todo`` in ``workers`` spawned processes, handing each result over as it finishes."""
    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(threads, os.getpid())) as pool:  # fmt: skip
        it = iter(todo)
        running = set()
        try:
            # Keep at most 2 runs per worker queued, so a kill loses little queued work.
            for spec in it:
                running.add(pool.submit(_safe_run, spec, threads))
                if len(running) >= 2 * workers:
                    break
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    handle(f.result())
                    nxt = next(it, None)
                    if nxt is not None:
                        running.add(pool.submit(_safe_run, nxt, threads))
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM in the CLI) or the store failed: stop the workers now
            # rather than wait for their runs in hand, which would not be stored anyway.
            _terminate_workers(pool)
            raise


def _terminate_workers(pool: ProcessPoolExecutor, timeout: float = 10.0) -> None:
    """Cancel what is queued, terminate the workers of ``pool`` and wait (bounded) for them."""
    # The pool's manager thread reaps the terminated workers; shutdown(wait=False) forgets it.
    manager = getattr(pool, "_executor_manager_thread", None)
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
    else:
        procs = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() drops it
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            try:
                if p.is_alive():
                    p.terminate()
            except (ValueError, ProcessLookupError):  # already closed or gone
                pass
    if manager is not None:
        manager.join(timeout)
