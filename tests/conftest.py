from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data" / "binance-spot"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "1d").is_dir():
        pytest.fail(f"shared candle data not found at {SHARED_DATA} (set SHARED_DATA_DIR)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/bt-test")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/2")
