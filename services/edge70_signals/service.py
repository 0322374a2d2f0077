"""edge70-signals: closed daily candles in → edge70 evaluations, signals and user messages out.

Exactly one evaluation per (edge, parameters, market, candle open time): the last evaluated open time is
persisted with the direction; older or repeated candles are acknowledged without effect, and a candle that
arrives after a gap first back-fills the missing candles from REST, in order.  Event ids are functions of
(edge, parameters, market, open time), so a re-evaluation after a crash republishes the same ids and
downstream dedup drops them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import structlog

from binance_tool.bus.api import Delivery, Publisher
from binance_tool.clock import Clock
from binance_tool.edge70.rules import LONG, NONE, SHORT, Edge70Config, Evaluation, MarketEdge, evaluate_series
from binance_tool.events import (
    CandleClosed,
    Direction,
    Edge70CandleEvaluated,
    Edge70Outcome,
    Edge70Parameters,
    Edge70Signal,
    Envelope,
    Market,
    SendUserMessage,
    Severity,
    deterministic_id,
)
from binance_tool.exchange.market_data import Kline, MarketData
from binance_tool.market.candles import INTERVAL_MS
from binance_tool.market.units import to_units
from binance_tool.observability import metrics
from binance_tool.state.edge70_state import Edge70StateStore, MarketState

INTERVAL = "1d"
STEP = INTERVAL_MS[INTERVAL]
SERVICE = "edge70-signals"
_DIR = {LONG: Direction.LONG, SHORT: Direction.SHORT, NONE: None}


@dataclass
class _Runtime:
    market: Market
    edge: MarketEdge
    direction: int = NONE
    last_open_time_ms: int = -1  # last evaluated (and persisted) candle
    window_last_open_time_ms: int = -1  # newest candle inside edge's window


@dataclass(frozen=True)
class CandleValues:
    open_time_ms: int
    high: Decimal
    low: Decimal
    close: Decimal

    @classmethod
    def of(cls, k: Kline | CandleClosed) -> CandleValues:
        return cls(k.open_time_ms, k.high, k.low, k.close)


class Edge70SignalsService:
    def __init__(
        self,
        publisher: Publisher,
        market_data: MarketData,
        store: Edge70StateStore,
        clock: Clock,
        params: Edge70Parameters,
        markets: Sequence[Market],
        state_ttl_s: int,
        warmup_candles: int,
    ) -> None:
        self._bus = publisher
        self._md = market_data
        self._store = store
        self._clock = clock
        self.params = params
        self.config = Edge70Config(params.long_lookback, params.short_lookback)
        self._ttl = state_ttl_s
        self._warmup = max(warmup_candles, self.config.history_needed + 1)
        self._rt = {m.symbol: _Runtime(m, MarketEdge(self.config)) for m in markets}
        self.log = structlog.get_logger().bind(edge="edge70", parameters=params.slug)

    @property
    def symbols(self) -> list[str]:
        return list(self._rt)

    def direction_of(self, symbol: str) -> Direction | None:
        return _DIR[self._rt[symbol].direction]

    async def warm_up(self) -> None:
        """Bring every market up to the exchange's latest closed candle (seeding or catching up)."""
        for symbol in self._rt:
            await self._sync(symbol, until_open_time_ms=None)
        self.log.info(
            "edge70_warmed_up",
            markets=len(self._rt),
            directions={s: (_DIR[r.direction] or "unknown") for s, r in self._rt.items()},
        )

    async def on_candle(self, event: Envelope, delivery: Delivery | None = None) -> None:
        if not isinstance(event, CandleClosed):
            raise TypeError(f"unexpected {type(event).__name__}")
        rt = self._rt.get(event.market.symbol)
        if rt is None or event.interval != INTERVAL:
            self.log.debug("candle_ignored", symbol=event.market.symbol, interval=event.interval)
            return
        if event.open_time_ms <= rt.last_open_time_ms:
            self.log.debug("candle_already_evaluated", symbol=rt.market.symbol, open_time_ms=event.open_time_ms)
            return
        contiguous = event.open_time_ms == rt.last_open_time_ms + STEP
        if contiguous and rt.window_last_open_time_ms == rt.last_open_time_ms:
            await self._evaluate(rt, CandleValues.of(event))
        else:
            self.log.info(
                "candle_gap_backfill",
                symbol=rt.market.symbol,
                last_open_time_ms=rt.last_open_time_ms,
                candle_open_time_ms=event.open_time_ms,
            )
            await self._sync(rt.market.symbol, until_open_time_ms=event.open_time_ms)

    async def _sync(self, symbol: str, until_open_time_ms: int | None) -> None:
        """Rebuild the market from the store and REST; evaluate every candle after the last evaluated one."""
        rt = self._rt[symbol]
        hist = self.config.history_needed
        state = await self._store.load(self.params.slug, symbol)
        if state is None:
            await self._seed(rt)
            if until_open_time_ms is None or rt.last_open_time_ms >= until_open_time_ms:
                return
            state = MarketState(rt.direction, rt.last_open_time_ms)
        klines = await self._md.closed_klines(
            symbol, INTERVAL, max(0, state.last_open_time_ms - hist * STEP), until_open_time_ms
        )
        history = [k for k in klines if k.open_time_ms <= state.last_open_time_ms][-hist:]
        rt.edge = MarketEdge(self.config)
        for k in history:
            rt.edge.push(to_units(k.high), to_units(k.low))
        rt.direction, rt.last_open_time_ms = state.direction, state.last_open_time_ms
        rt.window_last_open_time_ms = state.last_open_time_ms
        for k in klines:
            if k.open_time_ms > rt.last_open_time_ms:
                await self._evaluate(rt, CandleValues.of(k))

    async def _seed(self, rt: _Runtime) -> None:
        """No stored state: replay the recent history to find the direction (nothing is published)."""
        symbol = rt.market.symbol
        klines = await self._md.recent_closed_klines(symbol, INTERVAL, self._warmup)
        rt.edge = MarketEdge(self.config)
        if not klines:
            self.log.warning("edge70_no_history", symbol=symbol)
            return
        highs = np.array([to_units(k.high) for k in klines], dtype=np.int64)
        lows = np.array([to_units(k.low) for k in klines], dtype=np.int64)
        result = evaluate_series(highs, lows, self.config)
        rt.direction = int(result.direction[-1])
        for h, lo in zip(highs[-self.config.history_needed :], lows[-self.config.history_needed :], strict=True):
            rt.edge.push(int(h), int(lo))
        rt.last_open_time_ms = rt.window_last_open_time_ms = klines[-1].open_time_ms
        await self._store.save(self.params.slug, symbol, MarketState(rt.direction, rt.last_open_time_ms), self._ttl)
        self.log.info("edge70_seeded", symbol=symbol, candles=len(klines), direction=_DIR[rt.direction] or "unknown")

    async def _evaluate(self, rt: _Runtime, c: CandleValues) -> None:
        rt.window_last_open_time_ms = c.open_time_ms  # the window takes the candle even if publishing fails
        ev = rt.edge.evaluate(to_units(c.high), to_units(c.low), rt.direction)
        await self._bus.publish_many(self._events_for(rt.market, c, ev))
        await self._store.save(self.params.slug, rt.market.symbol, MarketState(ev.direction, c.open_time_ms), self._ttl)
        rt.direction, rt.last_open_time_ms = ev.direction, c.open_time_ms

    def _events_for(self, market: Market, c: CandleValues, ev: Evaluation) -> list[Envelope]:
        now = self._clock.now_ms()
        slug, symbol = self.params.slug, market.symbol
        signal_ts = c.open_time_ms + STEP  # the candle's close time + 1 ms
        correlation = CandleClosed.id_for(market.exchange, symbol, INTERVAL, c.open_time_ms)
        common: dict[str, Any] = {"correlation_id": correlation, "ts_event_ms": signal_ts, "ts_init_ms": now}
        out: list[Envelope] = [
            Edge70CandleEvaluated(
                **common,
                event_id=deterministic_id("Edge70CandleEvaluated", slug, symbol, c.open_time_ms),
                parameters=self.params,
                market=market,
                candle_open_time_ms=c.open_time_ms,
                close=c.close,
                long_trigger=ev.long_trigger,
                short_trigger=ev.short_trigger,
                direction=_DIR[ev.direction],
                previous_direction=_DIR[ev.previous],
                outcome=ev.outcome,
            )
        ]
        log = self.log.bind(symbol=symbol, candle_open_time_ms=c.open_time_ms, correlation_id=correlation)
        direction, previous = _DIR[ev.direction], _DIR[ev.previous]
        if ev.outcome is Edge70Outcome.SIGNAL and direction is not None and previous is not None:
            out.append(
                Edge70Signal(
                    **common,
                    event_id=deterministic_id("Edge70Signal", slug, symbol, c.open_time_ms),
                    parameters=self.params,
                    market=market,
                    direction=direction,
                    previous_direction=previous,
                    signal_price=c.close,
                    signal_timestamp_ms=signal_ts,
                    candle_open_time_ms=c.open_time_ms,
                )
            )
            arrow = "⬆" if direction is Direction.LONG else "⬇"
            out.append(
                self._message(
                    common,
                    "edge70.signal",
                    Severity.INFO,
                    slug,
                    symbol,
                    c.open_time_ms,
                    f"signal EDGE70 {direction.value.upper()} {arrow} {market.base_asset} ({symbol}) at {c.close}",
                    market,
                    direction,
                )
            )
            metrics.increment("edge70.signal", tags={"direction": direction.value, "base_asset": market.base_asset})
            log.info("edge70_signal", direction=direction, previous_direction=previous, signal_price=str(c.close))
        elif ev.outcome is Edge70Outcome.FIRST_DIRECTION and direction is not None:
            out.append(
                self._message(
                    common,
                    "edge70.possible-signal",
                    Severity.WARNING,
                    slug,
                    symbol,
                    c.open_time_ms,
                    f"possible {direction.value} signal on {market.base_asset} — check manually "
                    f"(no previous direction known for {symbol})",
                    market,
                    direction,
                )
            )
            log.warning("edge70_possible_signal", direction=direction)
        elif ev.outcome is Edge70Outcome.BOTH_TRIGGERS_IGNORED:
            log.warning("edge70_both_triggers_ignored", direction=direction)
        return out

    def _message(
        self,
        common: dict[str, Any],
        kind: str,
        severity: Severity,
        slug: str,
        symbol: str,
        open_time: int,
        text: str,
        market: Market,
        direction: Direction,
    ) -> SendUserMessage:
        return SendUserMessage(
            **common,
            event_id=deterministic_id("SendUserMessage", kind, slug, symbol, open_time),
            service=SERVICE,
            kind=kind,
            severity=severity,
            text=text,
            tags={"edge": "edge70", "base_asset": market.base_asset, "symbol": symbol, "direction": direction.value},
        )
