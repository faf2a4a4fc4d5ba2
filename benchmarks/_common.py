"""Shared pieces of the benchmark scripts: timing a call, and writing a wall/CPU result table."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn):
    """Run ``fn()``; return ``(result, wall seconds, CPU seconds of this process)``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def write_wall_cpu_table(topic: str, heading: str, goals: str, script: str, rows: list[tuple[str, str, str]]) -> str:
    """Write ``results/<topic>.md``: a heading, the goals and machine line, and a what/wall/CPU table.

    Returns the markdown text (also printed).
    """
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        heading,
        "",
        f"{goals} Single thread; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at start (shared machine: CPU time is the fairer number). "
        f"`benchmarks/{script}`, {time.strftime('%Y-%m-%d')}.",
        "",
        "| what | wall | CPU |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{topic}.md").write_text(text)
    return text
