"""Shared fixtures and paths for the test-suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
# Real public files for tests live beside the repository (never committed): <repo>/../shared/real-data
REAL_DATA = ROOT.parent / "shared" / "real-data"

os.environ.setdefault("HISTOGAN_HEADLESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real public test files; the test is skipped when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real test data not found at {REAL_DATA} (optional; see DEVELOPERS notes)")
    return REAL_DATA
