"""parallel.run_tasks: results, and stopping within seconds on Ctrl-C or a failed task (issue 15.3)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from histogan_lite.parallel import run_tasks, stop_requested


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("task 3 failed")
    time.sleep(0.5)
    return x


def poll_until_stopped(args):
    """Task 0 returns once task 1 has started; the others work in 0.05 s steps for up to 20 s, polling the stop flag."""
    i, folder = args
    open(os.path.join(folder, f"started-{i}"), "w").close()
    if i == 0:
        for _ in range(400):  # so that task 1 is surely running in the other worker when task 0's result comes
            if os.path.exists(os.path.join(folder, "started-1")):
                break
            time.sleep(0.05)
        return "quick"
    for _ in range(400):
        if stop_requested():
            open(os.path.join(folder, f"stopped-{i}"), "w").close()
            return "stopped"
        time.sleep(0.05)
    return "ran to the end"


def sigint_myself(_):
    os.kill(os.getpid(), signal.SIGINT)  # a worker ignores SIGINT: only the parent decides to stop
    time.sleep(0.2)
    return "alive"


def ignore_the_stop_flag(i):
    if i == 0:
        return "quick"
    time.sleep(60)
    return "slept"


def test_results_in_task_order_serial_and_parallel():
    seen = []
    assert run_tasks(square, range(7), workers=2, on_result=lambda t, r: seen.append((t, r))) == [0, 1, 4, 9, 16, 25, 36]
    assert sorted(seen) == [(k, k * k) for k in range(7)]
    assert run_tasks(square, range(7), workers=1) == [0, 1, 4, 9, 16, 25, 36]
    assert stop_requested() is False  # never in the parent


def test_a_failing_task_stops_the_others():
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="task 3 failed"):
        run_tasks(fail_on_three, range(40), workers=2)  # 40 x 0.5 s / 2 workers = 10 s if nothing stopped
    assert time.monotonic() - t0 < 4


def test_interrupt_in_the_parent_stops_running_tasks_within_seconds(tmp_path):
    def interrupt(task, result):
        raise KeyboardInterrupt  # as Ctrl-C would, while the parent waits for results

    interrupted = []
    with pytest.raises(KeyboardInterrupt):
        run_tasks(poll_until_stopped, [(i, str(tmp_path)) for i in range(6)], workers=2,
                  on_result=lambda task, result: interrupted.append(time.monotonic()) or interrupt(task, result))
    assert time.monotonic() - interrupted[0] < 5  # a running task would otherwise go on for 20 s
    names = {p.name for p in tmp_path.iterdir()}
    stopped = {n for n in names if n.startswith("stopped-")}
    # task 1 was running and saw the flag; tasks already queued for a worker may start, see it and return
    assert "stopped-1" in stopped and stopped <= {f"stopped-{i}" for i in range(1, 6)}
    assert {n.replace("stopped", "started") for n in stopped} <= names


def test_a_real_sigint_to_the_parent_stops_the_pool_and_restores_the_handler(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    sent = []

    def sigint_once_two_tasks_run():  # as a notebook's interrupt would: SIGINT to this process alone
        while not {"started-1", "started-2"} <= {p.name for p in tmp_path.iterdir()}:
            time.sleep(0.02)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=sigint_once_two_tasks_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_tasks(poll_until_stopped, [(i, str(tmp_path)) for i in range(1, 5)], workers=2)
    assert time.monotonic() - sent[0] < 5  # the tasks would otherwise run for 20 s each
    assert signal.getsignal(signal.SIGINT) is before
    assert {"stopped-1", "stopped-2"} <= {p.name for p in tmp_path.iterdir()}


def test_workers_ignore_sigint():
    assert run_tasks(sigint_myself, range(2), workers=2) == ["alive", "alive"]


def test_a_task_that_ignores_the_stop_flag_is_terminated_after_grace():
    def interrupt(task, result):
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_tasks(ignore_the_stop_flag, range(4), workers=2, on_result=interrupt, grace=1.0)
    assert time.monotonic() - t0 < 6
