"""Smoke test of bench/execution_reports.py's core: a few hundred generated execution reports through two real
order-ingestion processes, RabbitMQ and a real trackers process end in exactly the Redis state the stream implies.
No timing is asserted.  The trackers consume a private, expiring queue (the test vhost is shared); the account is
unique and its keys are deleted afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from decimal import Decimal

import pytest

from bench.execution_reports import delete_account_keys, generate_stream, run_once, verify

pytestmark = pytest.mark.integration


def test_bench_core_reaches_the_state_the_stream_implies(amqp_url: str, redis_url: str) -> None:
    stream = generate_stream(300, symbols=6, seed=11, concurrency=8)
    assert {"NEW", "TRADE", "CANCELED"} <= stream.counts().keys()
    assert any(edge is None for _, edge in stream.fills) and any(edge == "edge70" for _, edge in stream.fills)

    account = f"it-bench-{uuid.uuid4().hex[:12]}"
    try:
        result = run_once(
            stream,
            account=account,
            amqp_url=amqp_url,
            redis_url=redis_url,
            replicas=2,
            queue=f"test.bench-execution-reports.{uuid.uuid4().hex[:10]}",
            log_level="WARNING",
            keep_keys=True,
            timeout_s=120,
        )
        assert result["account"] == account
        assert result["problems"] == []
        assert result["unique"] == len(stream.reports)
        assert result["published"] == 2 * result["unique"]  # both replicas published everything
        assert result["handled"] == result["unique"]  # the duplicates were dropped by the dedup
        assert result["handler_failures"] == 0

        # The state check is not vacuous: a stream that implies something else is reported.
        key = next(iter(stream.orders))
        order = dataclasses.replace(stream.orders[key], executed_qty=stream.orders[key].executed_qty + 1)
        position = next(iter(stream.held))
        wrong = dataclasses.replace(
            stream,
            orders={**stream.orders, key: order},
            held={**stream.held, position: stream.held[position] + Decimal("0.5")},
        )
        problems = asyncio.run(verify(redis_url, account, wrong))
        assert len(problems) == 2
        assert f"#{key[1]}" in problems[0] and str(position) in problems[1]
    finally:
        asyncio.run(delete_account_keys(redis_url, account))
