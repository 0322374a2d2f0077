"""The demo's live view: account figures from the trackers' and the checker's events."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

from rich.console import Console

from binance_tool.events import Holding, PortfolioValued, PositionChanged, PositionsChecked
from services.demo_monitor.monitor import Monitor


def _ids() -> dict[str, object]:
    eid = uuid.uuid4()
    return {"event_id": eid, "correlation_id": eid, "ts_event_ms": 1_000, "ts_init_ms": 1_000}


def position(change: str, qty: str, pnl: str) -> PositionChanged:
    return PositionChanged(
        **_ids(), change=change, edge="edge70", base_asset="BTC", quote_asset="USDT", symbol="BTCUSDT",
        cause_trade_id=1, quantity=D(qty), average_entry_price=None, realised_pnl=D(pnl), fees_quote=D(0),
        opened_at_ms=0, closed_at_ms=None,
    )  # fmt: skip


async def test_the_view_shows_portfolio_open_positions_realised_pnl_and_the_last_check():
    monitor = Monitor()
    await monitor.handle(position("opened", "0.5", "0"))
    await monitor.handle(position("opened", "2", "0").model_copy(update={"base_asset": "ETH"}))
    await monitor.handle(position("closed", "0", "123.45"))
    await monitor.handle(PortfolioValued(
        **_ids(), reason="prices", quote_asset="USDT", total_quote=D("10500.5"), usd_per_quote=D(1),
        usd_rate_source="peg", total_usd=D("10500.5"), unpriced=(), balances_time_ms=1, prices_time_ms=1,
        holdings=(Holding(asset="USDT", free=D("10500.5"), locked=D(0), price=D(1), value=D("10500.5")),),
    ))  # fmt: skip
    await monitor.handle(PositionsChecked(
        **_ids(), check_id=uuid.uuid4(), started_ms=1, finished_ms=2, positions=1, balances_compared=1,
        mismatch_count=0,
    ))  # fmt: skip
    console = Console(record=True, width=250)
    console.print(monitor.render({"simTime": 0}, {"trackers": "running"}))
    text = console.export_text()
    assert "10,500.50 USDT ≈ 10,500.50 USD" in text
    assert "ETH edge70 2" in text and "BTC edge70" not in text  # BTC closed, ETH still held
    assert "realised P&L 123.45" in text and "1 positions, 0 mismatches" in text
