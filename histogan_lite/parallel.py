"""Process-parallel work that stops within seconds on Ctrl-C, whoever receives the signal.

``concurrent.futures.ProcessPoolExecutor`` used as ``with ProcessPoolExecutor() as pool:`` does not stop
on ``KeyboardInterrupt``: leaving the ``with`` block waits for every task already submitted, and a
``SIGINT`` sent to the whole process group (Ctrl-C in a terminal) also raises ``KeyboardInterrupt``
inside the workers, in the middle of whatever they were writing. A Jupyter "interrupt" sends ``SIGINT``
to the kernel only, so the workers go on regardless. :func:`run_tasks` fixes both at the cause:

* workers ignore ``SIGINT`` (:func:`_init_worker`); only the parent process decides to stop;
* on any exception in the parent (``KeyboardInterrupt`` included) or in a task, the parent cancels the
  tasks not yet started and sets a shared stop flag, which a long task polls with
  :func:`stop_requested` between units of work (e.g. between two files) and then returns early
  without committing anything; the parent waits at most ``grace`` seconds for that, then terminates
  whatever is left, and re-raises.

The caller keeps its own invariant for partial results (e.g. write each file atomically, and a
"done" record only after all of a task's files exist), so an interrupted run can be resumed.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterable

__all__ = ["run_tasks", "stop_requested"]

_STOP = None  # the shared stop flag (a multiprocessing Event) inside a worker process


def _init_worker(stop) -> None:
    """Worker initializer: ignore SIGINT (the parent handles Ctrl-C) and keep the stop flag."""
    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop


def stop_requested() -> bool:
    """True inside a worker of :func:`run_tasks` once the parent has asked the workers to stop.

    Always False in the parent process and in serial runs (there ``KeyboardInterrupt`` itself stops
    the work).
    """
    return _STOP is not None and _STOP.is_set()


def run_tasks(
    fn: Callable,
    tasks: Iterable,
    *,
    workers: int = 1,
    on_result: Callable | None = None,
    grace: float = 10.0,
) -> list:
    """Run ``fn(task)`` for every task; call ``on_result(task, result)`` as each one finishes.

    With ``workers <= 1`` the tasks run in this process, in order. Otherwise they run in a pool of
    ``workers`` processes (``fork`` where the platform has it, so ``fn`` and tasks need not be
    importable by name; else the platform's default, and they must pickle), and finish in any order.

    Stopping: if this process is interrupted (``KeyboardInterrupt`` from Ctrl-C or a notebook's
    interrupt, sent to this process alone or to its whole process group), or if a task or
    ``on_result`` raises, then tasks not yet started are cancelled, the workers are told to stop (see
    :func:`stop_requested`), given ``grace`` seconds to return, then terminated; the exception is
    re-raised. Workers never see ``KeyboardInterrupt``.

    Args:
        fn: a function of one task; in workers it should poll :func:`stop_requested` between units of
            work and return early (committing nothing) when it is True.
        tasks: the tasks (each picklable when ``workers > 1``).
        workers: number of processes; 1 (or less) runs serially in this process.
        on_result: called in this process with ``(task, result)`` as each task finishes (progress bars).
        grace: seconds the stopping workers get before they are terminated.

    Returns:
        The results, in the order of ``tasks``.

    Raises:
        Whatever ``fn`` raises (first one, from the worker), and ``KeyboardInterrupt`` when interrupted.
    """
    tasks = list(tasks)
    on_result = on_result or (lambda task, result: None)
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for t in tasks:
            results.append(fn(t))
            on_result(t, results[-1])
        return results
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    stop = ctx.Event()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(stop,))
    futures: dict = {}
    finished = False
    try:
        for t in tasks:
            futures[pool.submit(fn, t)] = t
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                on_result(futures[fut], fut.result())
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop_pool(pool, futures, stop, grace)
    return [fut.result() for fut in futures]


def _stop_pool(pool: ProcessPoolExecutor, futures, stop, grace: float) -> None:
    """Cancel queued tasks, ask running ones to stop, wait ``grace`` s, terminate what is left."""
    stop.set()
    for fut in futures:
        fut.cancel()  # only tasks not yet handed to a worker can be cancelled
    running = [f for f in futures if not f.done()]
    _, late = wait(running, timeout=grace)
    if late and hasattr(pool, "terminate_workers"):  # Python 3.14+
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    if late:
        for p in processes:
            if p.is_alive():
                p.terminate()
    for p in processes:
        p.join(timeout=grace)
