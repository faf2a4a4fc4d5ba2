"""Process-parallel work that stops within seconds on Ctrl-C, whoever receives the signal.

``concurrent.futures.ProcessPoolExecutor`` used as ``with ProcessPoolExecutor() as pool:`` does not stop
on ``KeyboardInterrupt``: leaving the ``with`` block waits for every task already submitted, and a
``SIGINT`` sent to the whole process group (Ctrl-C in a terminal) also raises ``KeyboardInterrupt``
inside the workers, in the middle of whatever they were writing. A Jupyter "interrupt" sends ``SIGINT``
to the kernel only, so the workers go on regardless. :func:`run_tasks` fixes both at the cause:

* workers ignore ``SIGINT`` (:func:`_init_worker`); only the parent process decides to stop;
* in the parent, ``SIGINT`` only sets a flag while the pool runs (:class:`_DeferredInterrupt`), and
  ``KeyboardInterrupt`` is raised at a safe point of the waiting loop. Raised wherever the signal lands,
  it could fire inside ``concurrent.futures`` while some of its locks are held (e.g. between two
  acquisitions in ``wait``), and the cancellation that follows would then wait for those locks forever:
  a rare hang that CI saw as an extraction not exiting 30 s after Ctrl-C;
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
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterable

__all__ = ["run_tasks", "stop_requested"]

_STOP = None  # the shared stop flag (a multiprocessing Event) inside a worker process


def _init_worker(stop) -> None:
    """Worker initializer: ignore SIGINT (the parent handles Ctrl-C) and keep the stop flag."""
    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop


class _DeferredInterrupt:
    """Within the block, SIGINT to this process sets ``hit``; :meth:`check` raises KeyboardInterrupt.

    Only the main thread can install signal handlers, and a SIGINT that is ignored (a job started in
    the background by a non-interactive shell) stays ignored; in both cases nothing changes. Leaving
    the block restores the previous handler, and raises KeyboardInterrupt for a signal that came after
    the last check (unless another exception is already on its way).
    """

    def __enter__(self):
        self.hit = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous not in (signal.SIG_IGN, None):
                self.previous = previous
                signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum, frame) -> None:
        self.hit = True

    def check(self) -> None:
        if self.hit:
            self.hit = False
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if exc_type is None:
            self.check()


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
    futures: dict = {}
    finished = False
    with _DeferredInterrupt() as interrupt:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(stop,))
        try:
            for t in tasks:
                futures[pool.submit(fn, t)] = t
            pending = set(futures)
            while pending:
                interrupt.check()
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for fut in done:
                    on_result(futures[fut], fut.result())
            interrupt.check()
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop_pool(pool, futures, stop, grace)  # a second Ctrl-C meanwhile waits for the grace period
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
