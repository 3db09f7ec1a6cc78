"""Shared fixtures. Tests that read ../shared/data use ``shared_data`` and skip with a message when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopback import loopback_vlm  # noqa: F401  (the loopback OpenAI-compatible server fixture)

SHARED_DATA = Path(os.environ.get("GENAD_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` folder beside the checkout (or ``$GENAD_SHARED_DATA``)."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}; set GENAD_SHARED_DATA to run this test")
    return SHARED_DATA
