from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_tool.bus.topology import topic_matches


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("candle.closed.1d.*", "candle.closed.1d.BTCUSDT", True),
        ("candle.closed.1d.*", "candle.closed.1h.BTCUSDT", False),
        ("candle.closed.1d.*", "candle.closed.1d", False),
        ("candle.closed.1d.*", "candle.closed.1d.BTC.USDT", False),
        ("candle.#", "candle", True),
        ("candle.#", "candle.closed.1d.BTCUSDT", True),
        ("#", "anything.at.all", True),
        ("#", "", True),
        ("#.BTCUSDT", "candle.closed.1d.BTCUSDT", True),
        ("#.BTCUSDT", "BTCUSDT", True),
        ("#.BTCUSDT", "candle.closed.1d.ETHUSDT", False),
        ("candle.#.BTCUSDT", "candle.BTCUSDT", True),
        ("candle.#.BTCUSDT", "candle.closed.1d.BTCUSDT", True),
        ("*.*", "a.b", True),
        ("*.*", "a", False),
        ("signal.edge70.*.#", "signal.edge70.long.BTCUSDT", True),
        ("signal.edge70.*.#", "signal.edge70", False),
        ("exact.key", "exact.key", True),
        ("exact.key", "exact.keys", False),
    ],
)
def test_topic_pattern_matches_like_amqp(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


words = st.lists(st.sampled_from(["a", "b", "candle", "1d"]), min_size=1, max_size=5)


@given(words)
def test_hash_matches_every_key_and_a_key_matches_itself(parts: list[str]) -> None:
    key = ".".join(parts)
    assert topic_matches("#", key)
    assert topic_matches(key, key)
    assert topic_matches(".".join("*" for _ in parts), key)
    assert not topic_matches(".".join("*" for _ in parts) + ".*", key)
