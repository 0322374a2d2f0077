"""position-sizer: edge signals in → a sizing decision (event) → the Trade Abstraction Service.

A long signal is sized with the shared rules (`binance_tool.trading.size_entry`) against the portfolio read from
the exchange and the TAS, at the entry limit and planned stop the edge's `ExecutionSettings` give; the decision is
published as `EntrySized` (inputs, caps, binding constraint) before anything is sent.  An accepted decision becomes
`POST /spot/long` with the quantity; a short signal becomes `POST /spot/close`.  Requests carry an
Idempotency-Key derived from the signal, and the entry's client order id is derived from the signal too, so a
redelivered signal can never place a second order.  Test signals are never traded.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import structlog

from binance_tool.bus.api import Delivery, Publisher
from binance_tool.clock import Clock
from binance_tool.events import (
    Direction,
    Edge70Signal,
    EntrySized,
    Envelope,
    SendUserMessage,
    Severity,
    deterministic_id,
)
from binance_tool.exchange.execution import AccountData
from binance_tool.observability import metrics
from binance_tool.trading import EXECUTION_SETTINGS, SizingRules, size_entry
from services.position_sizer.kill_switch import ModeStore
from services.position_sizer.portfolio import AccountView, read_portfolio
from services.position_sizer.positions_cache import TasPositions
from services.position_sizer.tas_client import TasAnswer, TasClient, TasUnavailable

SERVICE = "position-sizer"
_Q = Decimal("0.00000001")
log = structlog.get_logger()


class TasRetryLater(Exception):
    """The TAS could not take the command now (unavailable, unknown outcome): redeliver the signal later."""


class PositionSizerService:
    def __init__(
        self,
        publisher: Publisher,
        account: AccountData,
        tas: TasClient,
        modes: ModeStore,
        clock: Clock,
        rules: SizingRules,
        quote_asset: str = "USDT",
        view: AccountView | None = None,
        positions: TasPositions | None = None,
    ) -> None:
        self.bus = publisher
        self.account = account
        self.view: AccountView = view or account  # balances and prices (a cache in production)
        self.positions = positions  # the TAS's trades, cached (None: ask the TAS every time)
        self.tas = tas
        self.modes = modes
        self.clock = clock
        self.rules = rules
        self.quote = quote_asset

    async def on_signal(self, event: Envelope, delivery: Delivery | None = None) -> None:
        if not isinstance(event, Edge70Signal):
            raise TypeError(f"unexpected {type(event).__name__}")
        bound = log.bind(symbol=event.market.symbol, edge=event.edge, correlation_id=str(event.event_id))
        if event.test_signal:
            bound.info("sizer_test_signal_ignored")
            return
        if event.market.quote_asset != self.quote:
            bound.info("sizer_other_quote_ignored", quote=event.market.quote_asset)
            return
        if event.direction is Direction.LONG:
            await self._enter(event, bound)
        else:
            await self._exit(event, bound)

    async def _enter(self, signal: Edge70Signal, bound: structlog.typing.FilteringBoundLogger) -> None:
        symbol = signal.market.symbol
        settings = EXECUTION_SETTINGS[signal.edge]
        filters = (await self.account.symbol_filters([symbol])).get(symbol)
        if filters is None:
            await self._tell(signal, Severity.WARNING, f"{symbol} is not tradable on the exchange: signal not entered")
            return
        t0 = time.perf_counter()
        mode = await self.modes.get()
        t1 = time.perf_counter()
        state = await read_portfolio(self.view, self.positions or self.tas, self.quote)
        t2 = time.perf_counter()
        limit = settings.entry_limit_price(signal.signal_price, filters)
        stop = settings.stop_price(limit, filters)
        decision = size_entry(self.rules, state, filters, limit, stop, mode)
        now = self.clock.now_ms()
        sized = EntrySized(
            event_id=deterministic_id("EntrySized", signal.event_id),
            correlation_id=signal.event_id,
            ts_event_ms=signal.ts_event_ms,
            ts_init_ms=now,
            edge=signal.edge,
            signal_event_id=signal.event_id,
            market=signal.market,
            signal_price=signal.signal_price,
            limit_price=limit,
            stop_price=stop,
            accepted=decision.accepted,
            quantity=decision.quantity,
            binding=decision.binding.value,
            refusal=decision.refusal.value if decision.refusal else None,
            reason=decision.reason,
            trading_mode=mode.value,
            portfolio_value=decision.portfolio_value,
            free_quote=state.free_quote,
            reserved_quote=state.reserved_quote,
            open_risk=state.open_risk(self.rules.open_risk_basis),
            open_positions=len(state.exposures),
            caps={k: v.quantize(_Q) for k, v in decision.caps.items()},
            rules={k: str(v) for k, v in self.rules.as_dict().items()},
        )
        if not decision.accepted:
            await self.bus.publish(sized)
        metrics.increment("sizer.decision", tags={"accepted": str(decision.accepted), "binding": decision.binding})
        bound.info("sizer_decision", accepted=decision.accepted, quantity=str(decision.quantity),
                   binding=decision.binding.value, reason=decision.reason)  # fmt: skip
        if not decision.accepted:
            await self._tell(signal, Severity.INFO, f"edge70 LONG {symbol} not entered: {decision.reason}")
            return
        # The decision event and the entry go out together; a failure of either redelivers the signal, and the
        # retry is idempotent (same event id, same Idempotency-Key, same client order id).
        _published, answer = await asyncio.gather(
            self.bus.publish(sized),
            self._call(lambda: self.tas.long(signal.edge, symbol, str(signal.event_id),
                                             signal.signal_price, decision.quantity)),
        )  # fmt: skip
        t3 = time.perf_counter()
        if self.positions is not None and answer.status in ("ENTERED", "ALREADY_IN_POSITION"):
            self.positions.entered(signal.edge, symbol, decision.quantity, limit, stop)
        bound.info("sizer_tas_long", http_status=answer.http_status, status=answer.status, msg=answer.msg,
                   mode_ms=round((t1 - t0) * 1000, 2), portfolio_ms=round((t2 - t1) * 1000, 2),
                   tas_ms=round((t3 - t2) * 1000, 2))  # fmt: skip

    async def _exit(self, signal: Edge70Signal, bound: structlog.typing.FilteringBoundLogger) -> None:
        answer = await self._call(lambda: self.tas.close(signal.edge, signal.market.symbol, str(signal.event_id)))
        if self.positions is not None and answer.status in ("CLOSED", "NOT_FOUND"):
            self.positions.closed(signal.market.symbol)
        bound.info("sizer_tas_close", http_status=answer.http_status, status=answer.status, msg=answer.msg)

    async def _call(self, command: object) -> TasAnswer:
        try:
            answer: TasAnswer = await command()  # type: ignore[operator]
        except TasUnavailable as exc:
            raise TasRetryLater(str(exc)) from exc
        if answer.status in ("UNKNOWN_OUTCOME", "EXCHANGE_UNAVAILABLE", "IN_PROGRESS", "RATE_LIMITED"):
            raise TasRetryLater(f"TAS answered {answer.status}: {answer.msg}")  # redelivered: same key, same order id
        return answer

    async def _tell(self, signal: Edge70Signal, severity: Severity, text: str) -> None:
        now = self.clock.now_ms()
        await self.bus.publish(
            SendUserMessage(
                event_id=deterministic_id("SendUserMessage", "sizer", signal.event_id),
                correlation_id=signal.event_id,
                ts_event_ms=signal.ts_event_ms,
                ts_init_ms=now,
                service=SERVICE,
                kind="sizer.decision",
                severity=severity,
                text=text,
                tags={"edge": signal.edge, "symbol": signal.market.symbol},
            )
        )
