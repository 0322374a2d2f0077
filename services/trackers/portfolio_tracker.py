"""portfolio-tracker: the account's balances (from `AccountBalancesUpdated`: stream updates and REST snapshots)
valued in the quote asset and in USD at current prices; a `PortfolioValued` after every balance change and every
price refresh, the last one kept in Redis for the CLI.

Balances only move forward per asset (`apply_balances`: exchange time of the report), so late or repeated reports
change nothing; the update is one optimistic Redis transaction.  Prices are read from the exchange every
`TRACKERS_PRICES_REFRESH_S`; the USD value goes through `TRACKERS_USD_ASSET` (a USD stablecoin, e.g. USDC): the
quote's pair with it when the exchange lists one, else (`TRACKERS_USD_PEG_FALLBACK`) the quote is taken as 1 USD and
the event says so (`usd_rate_source = "peg"`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal, Protocol

import structlog

from binance_tool.bus.api import Delivery, Publisher
from binance_tool.clock import Clock
from binance_tool.events import AccountBalancesUpdated, Envelope, Holding, PortfolioValued
from binance_tool.exchange.execution import Balance
from binance_tool.tracking import HeldBalance, apply_balances, portfolio_value, price_in, usd_rate
from services.trackers.portfolio_store import PortfolioStore


class PriceSource(Protocol):
    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]: ...

    async def server_time_ms(self) -> int: ...


def valuation(
    account: str,
    reason: Literal["balances", "prices"],
    balances: Mapping[str, HeldBalance],
    prices: Mapping[str, Decimal],
    prices_time_ms: int,
    quote: str,
    usd_asset: str,
    peg_fallback: bool,
    now_ms: int,
) -> PortfolioValued:
    """The `PortfolioValued` of `balances` at `prices` (pure)."""
    held = [b.as_balance() for b in balances.values() if b.total]
    value = portfolio_value(held, prices, quote)
    rate = usd_rate(quote, prices, usd_asset, peg_fallback=peg_fallback)
    balances_time = max((b.time_ms for b in balances.values()), default=0)
    holdings = tuple(
        Holding(
            asset=b.asset,
            free=b.free,
            locked=b.locked,
            price=price_in(b.asset, quote, prices),
            value=value.values.get(b.asset),
        )
        for b in sorted(held, key=lambda b: (-(value.values.get(b.asset) or Decimal(0)), b.asset))
    )
    contents = ";".join(f"{b.asset}:{b.free}:{b.locked}" for b in sorted(held, key=lambda b: b.asset))
    event_id = PortfolioValued.id_for(account, reason, balances_time, prices_time_ms, contents)
    return PortfolioValued(
        event_id=event_id,
        correlation_id=event_id,
        ts_event_ms=max(balances_time, prices_time_ms),
        ts_init_ms=now_ms,
        account=account,
        reason=reason,
        quote_asset=quote,
        total_quote=value.total,
        usd_per_quote=rate.rate,
        usd_rate_source=rate.source,
        total_usd=None if rate.rate is None else value.total * rate.rate,
        holdings=holdings,
        unpriced=tuple(value.unpriced),
        balances_time_ms=balances_time,
        prices_time_ms=prices_time_ms,
    )


class PortfolioTracker:
    def __init__(
        self,
        publisher: Publisher,
        store: PortfolioStore,
        prices: PriceSource,
        clock: Clock,
        quote_asset: str = "USDT",
        usd_asset: str = "USDC",
        usd_peg_fallback: bool = True,
    ) -> None:
        self._bus = publisher
        self._store = store
        self._prices = prices
        self._clock = clock
        self.quote_asset = quote_asset
        self.usd_asset = usd_asset
        self.usd_peg_fallback = usd_peg_fallback
        self._log = structlog.get_logger().bind(component="portfolio-tracker")

    async def on_balances(self, event: Envelope, delivery: Delivery | None = None) -> PortfolioValued | None:
        if not isinstance(event, AccountBalancesUpdated):
            raise TypeError(f"unexpected {type(event).__name__}")
        balances = [Balance(b.asset, b.free, b.locked) for b in event.balances]
        snapshot = event.source == "rest-snapshot"

        def change(current: dict[str, HeldBalance]) -> dict[str, HeldBalance]:
            return apply_balances(current, balances, event.update_time_ms, snapshot=snapshot)

        before, after = await self._store.update_balances(event.account, change)
        if after == before:
            self._log.debug("balances_unchanged", account=event.account, update_time_ms=event.update_time_ms)
            return None
        return await self._publish(event.account, "balances", after)

    async def refresh_prices(self, account: str = "default") -> PortfolioValued:
        """Read current prices from the exchange, store them and publish the valuation (raises ExchangeUnavailable;
        the caller retries at the next refresh)."""
        prices = await self._prices.prices()
        time_ms = await self._prices.server_time_ms()
        await self._store.set_prices(account, prices, time_ms)
        return await self._publish(account, "prices", await self._store.balances(account))

    async def _publish(
        self, account: str, reason: Literal["balances", "prices"], balances: Mapping[str, HeldBalance]
    ) -> PortfolioValued:
        prices, prices_time = await self._store.prices(account)
        event = valuation(
            account, reason, balances, prices, prices_time, self.quote_asset, self.usd_asset,
            self.usd_peg_fallback, self._clock.now_ms(),
        )  # fmt: skip
        await self._store.set_latest(account, event)
        await self._bus.publish(event)
        self._log.info(
            "portfolio_valued",
            account=account,
            reason=reason,
            total_quote=str(event.total_quote.quantize(Decimal("0.01"))),
            total_usd=None if event.total_usd is None else str(event.total_usd.quantize(Decimal("0.01"))),
            usd_rate_source=event.usd_rate_source,
            unpriced=list(event.unpriced),
        )
        return event
