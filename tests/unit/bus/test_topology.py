from __future__ import annotations

import pytest

from binance_tool.bus import topology
from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import ALL_TYPES, CandleClosed


def sub(**kw: object) -> Subscription:
    args: dict[str, object] = {
        "queue": "edge70-signals.candles",
        "bindings": (Binding("bt.market-data", "candle.closed.1d.*"),),
        "accepts": (CandleClosed,),
    }
    args.update(kw)
    return Subscription(**args)  # type: ignore[arg-type]


def test_exchanges_are_collected_from_every_event_type() -> None:
    names = topology.exchange_names()
    assert set(names) == {cls.EXCHANGE for cls in ALL_TYPES}
    assert {"bt.market-data", "bt.signals", "bt.notifications"} <= set(names)
    assert topology.DEAD_LETTER_EXCHANGE not in names


def test_subscription_queue_is_quorum_with_at_least_once_dead_lettering() -> None:
    args = topology.queue_arguments(sub(delivery_limit=7))
    assert args == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "bt.dlx",
        "x-dead-letter-routing-key": "edge70-signals.candles",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_extra_arguments_are_added_but_cannot_weaken_delivery_safety() -> None:
    assert topology.queue_arguments(sub(extra_arguments={"x-max-length": 1000}))["x-max-length"] == 1000
    with pytest.raises(ValueError, match="x-overflow"):
        topology.queue_arguments(sub(extra_arguments={"x-overflow": "drop-head"}))


def test_binding_to_an_unknown_exchange_is_rejected_naming_it() -> None:
    with pytest.raises(ValueError, match=r"bt\.market-dta"):
        topology.check_bindings([sub(bindings=(Binding("bt.market-dta", "#"),))])


def test_reference_lists_exchanges_routing_keys_and_subscriptions() -> None:
    text = topology.render_reference([sub(description="Daily candles for edge70.")])
    for cls in ALL_TYPES:
        assert f"`{cls.__name__}`" in text
        assert cls.ROUTING_KEY in text
    assert "`bt.dlx`" in text and "`bt.dead-letter`" in text
    assert "### `edge70-signals.candles`" in text
    assert "Daily candles for edge70." in text
    assert "`x-dead-letter-strategy`: `at-least-once`" in text
    assert "`bt.market-data` ← `candle.closed.1d.*`" in text
