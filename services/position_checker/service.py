"""position-checker: compares the tracked positions with the exchange at start-up and on a schedule.

A check reads everything (`check_positions`); if it finds mismatches — or finds none while some are being
reported — it waits `confirm_delay_s` and checks again.  Only the mismatches found both times are confirmed (a fill
between the exchange and the trackers is not one), and a reported mismatch is resolved only when absent from two
consecutive readings (the reading and its re-check; without a re-check, two consecutive checks): one clean reading
between two dirty ones is not an all-clear.  Every confirmed mismatch is published as `PositionMismatchFound`; the
user is told (`SendUserMessage`, kind `position-mismatch`) when it first appears and again every `remind_s` while it
stays, and once with an all-clear when none is left.  Every completed check publishes `PositionsChecked`.

What is being reported is kept in an `OpenMismatchStore` (Redis in production) across restarts.

A check that cannot read its inputs (or publish) reports nothing, marks the service not ready and is retried at the
next tick; after `alert_after_failures` consecutive failed checks the user is told once (error, kind
`position-check-failing`), and told again (info) when a check completes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from binance_tool.bus.api import Publisher
from binance_tool.clock import Clock
from binance_tool.events import Envelope, SendUserMessage, Severity, deterministic_id
from binance_tool.events.reconciliation import PositionMismatchFound, PositionsChecked, check_id_for
from binance_tool.exchange.execution import AccountData, SpotExecution
from binance_tool.health import Health
from binance_tool.tracking.reconcile import Mismatch, ReconcileSettings
from services.position_checker.check import CheckResult, check_positions
from services.position_checker.check import confirmed as confirmed_mismatches
from services.position_checker.open_store import OpenMismatchStore
from services.position_checker.sources import PositionsSource

SERVICE = "position-checker"
MESSAGE_KIND = "position-mismatch"
FAILING_KIND = "position-check-failing"
CLEAN_READINGS = 2  # consecutive readings without a reported mismatch before it is resolved
Sleep = Callable[[float], Awaitable[None]]
Key = tuple[str, str, str]


@dataclass(frozen=True)
class CheckerConfig:
    account: str
    reconcile: ReconcileSettings
    interval_s: float = 900.0
    confirm_delay_s: float = 60.0
    remind_s: float = 14_400.0
    alert_after_failures: int = 3

    def __post_init__(self) -> None:
        if self.alert_after_failures < 1:
            raise ValueError(f"alert_after_failures must be >= 1, got {self.alert_after_failures}")


@dataclass(frozen=True)
class _Open:
    """A mismatch being reported: when this process first confirmed it and last told the user, and in how many
    consecutive readings it has been absent since (resolved at `CLEAN_READINGS`)."""

    first_seen_ms: int
    told_ms: int
    clean: int = 0


@dataclass(frozen=True)
class CheckOutcome:
    check_id: uuid.UUID
    result: CheckResult
    confirmed: tuple[Mismatch, ...]
    unconfirmed: int
    told: tuple[Mismatch, ...]  # the mismatches the user was told about in this check
    all_clear: bool


class PositionChecker:
    def __init__(
        self,
        publisher: Publisher,
        account_data: AccountData,
        execution: SpotExecution,
        positions: PositionsSource,
        config: CheckerConfig,
        clock: Clock,
        health: Health | None = None,
        sleep: Sleep | None = None,
        open_store: OpenMismatchStore | None = None,
    ) -> None:
        self.publisher = publisher
        self._open_store = open_store
        self._open_loaded = open_store is None
        self.account_data = account_data
        self.execution = execution
        self.positions = positions
        self.config = config
        self.clock = clock
        self.health = health or Health()
        self._sleep = sleep
        self._stop = asyncio.Event()
        self._open: dict[Key, _Open] = {}
        self.checks = 0
        self.failures = 0
        self.consecutive_failures = 0
        self._failing_told = False  # the user was told the checks are failing (and not yet that they work again)
        self.log = structlog.get_logger().bind(service=SERVICE, account=config.account)

    @property
    def open_mismatches(self) -> frozenset[Key]:
        return frozenset(self._open)

    async def run(self, stop: asyncio.Event) -> None:
        """Check at once, then every `interval_s`, until `stop` is set."""
        self._stop = stop
        while not stop.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.interval_s)

    async def _pause(self, seconds: float) -> bool:
        """Wait before the re-check; False when the service is stopping meanwhile."""
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
        return not self._stop.is_set()

    async def _read(self) -> CheckResult:
        c = self.config
        return await check_positions(
            self.account_data, self.execution, self.positions, c.account, c.reconcile, self.clock
        )

    async def check_once(self) -> CheckOutcome | None:
        """One check (with its re-check); None when it could not complete (nothing is reported then)."""
        try:
            if not self._open_loaded:  # what was being reported before a restart
                assert self._open_store is not None
                loaded = await self._open_store.load(self.config.account)
                self._open = {k: _Open(f, t, c) for k, (f, t, c) in loaded.items()}
                self._open_loaded = True
                if self._open:
                    self.log.info("open_mismatches_restored", count=len(self._open))
            first = await self._read()
            readings = [first]
            if first.mismatches:
                self.log.info(
                    "positions_mismatch_candidates",
                    count=len(first.mismatches),
                    kinds=sorted({m.kind.value for m in first.mismatches}),
                    confirm_in_s=self.config.confirm_delay_s,
                )
            if (first.mismatches or self._open) and self.config.confirm_delay_s > 0:
                # a mismatch must be seen twice to be told; a reported one must be absent twice to be cleared
                if not await self._pause(self.config.confirm_delay_s):
                    return None
                readings.append(await self._read())
            result = readings[-1]
            confirmed = confirmed_mismatches(first, result) if len(readings) > 1 else list(first.mismatches)
            unconfirmed = len(first.mismatches) - len(confirmed)
            outcome = await self._report(first, result, readings, confirmed, unconfirmed)
        except Exception as exc:
            await self._failed(exc)
            return None
        self.checks += 1
        self.health.ready = True
        self.health.set_detail("last_check", f"{len(outcome.confirmed)} mismatches at {result.finished_ms}")
        await self._recovered()
        return outcome

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.health.ready = False
        self.health.set_detail("last_check", f"failed: {exc!r}"[:300])
        self.log.error("positions_check_failed", error=repr(exc), consecutive=self.consecutive_failures)
        if self._failing_told or self.consecutive_failures < self.config.alert_after_failures:
            return
        text = (
            f"❌ [{self.config.account}] the positions could not be checked against the exchange "
            f"{self.consecutive_failures} times in a row (last error: {exc!r}); mismatches go unnoticed meanwhile"
        )
        self._failing_told = await self._tell_state("failing", Severity.ERROR, text)

    async def _recovered(self) -> None:
        failed, self.consecutive_failures = self.consecutive_failures, 0
        if not self._failing_told:
            return
        text = f"✅ [{self.config.account}] the positions are checked against the exchange again"
        if await self._tell_state("recovered", Severity.INFO, text, failed_checks=failed):
            self._failing_told = False

    async def _tell_state(self, state: str, severity: Severity, text: str, failed_checks: int = 0) -> bool:
        """Tell the user the checks are failing / work again; False when that could not be published either
        (tried again at the next check)."""
        account, now = self.config.account, self.clock.now_ms()
        message = SendUserMessage(
            event_id=deterministic_id(SERVICE, "check-failing", account, state, now),
            correlation_id=deterministic_id(SERVICE, "check-failing", account, now),
            ts_event_ms=now,
            ts_init_ms=now,
            service=SERVICE,
            kind=FAILING_KIND,
            severity=severity,
            text=text[:4000],
            tags={"account": account, "state": state},
        )
        try:
            await self.publisher.publish(message)
        except Exception as exc:
            self.log.error("check_state_message_failed", state=state, error=repr(exc))
            return False
        self.log.info("check_state_told", state=state, failed_checks=failed_checks)
        return True

    async def _report(
        self,
        first: CheckResult,
        result: CheckResult,
        readings: Sequence[CheckResult],
        confirmed: Sequence[Mismatch],
        unconfirmed: int,
    ) -> CheckOutcome:
        c = self.config
        now = self.clock.now_ms()
        check_id = check_id_for(c.account, first.started_ms)
        remind_ms = int(c.remind_s * 1000)
        still: dict[Key, _Open] = {}
        told: list[Mismatch] = []
        events: list[Envelope] = []
        for m in confirmed:
            known = self._open.get(m.key)
            tell = known is None or now - known.told_ms >= remind_ms
            first_seen = known.first_seen_ms if known is not None else now
            still[m.key] = _Open(first_seen, now) if tell or known is None else replace(known, clean=0)
            events.append(self._mismatch_event(check_id, m, first_seen, result.finished_ms, now))
            if tell:
                told.append(m)
                events.append(self._message(check_id, m, reminder=known is not None, first_seen_ms=first_seen))
        for key, known in self._open.items():
            if key in still:
                continue
            clean = known.clean
            for reading in readings:
                clean = 0 if key in {m.key for m in reading.mismatches} else clean + 1
            if clean < CLEAN_READINGS:
                still[key] = replace(known, clean=clean)  # not confirmed gone yet: kept, told nothing
        all_clear = bool(self._open) and not still
        if all_clear:
            events.append(self._all_clear(check_id, result.finished_ms, now))
        events.append(
            PositionsChecked(
                event_id=PositionsChecked.id_for(c.account, check_id),
                correlation_id=check_id,
                ts_event_ms=result.finished_ms,
                ts_init_ms=now,
                account=c.account,
                check_id=check_id,
                started_ms=first.started_ms,
                finished_ms=result.finished_ms,
                positions=result.open_positions,
                balances_compared=result.balances_compared,
                mismatch_count=len(confirmed),
                kinds=tuple(sorted({m.kind.value for m in confirmed})),
                unconfirmed=unconfirmed,
            )
        )
        await self.publisher.publish_many(events)
        self._open = still  # only once published: a failed publish is reported again next time
        if self._open_store is not None:
            state = {k: (o.first_seen_ms, o.told_ms, o.clean) for k, o in still.items()}
            await self._open_store.save(c.account, state)
        for m in confirmed:
            self.log.warning(
                "position_mismatch",
                kind=m.kind.value,
                asset=m.asset,
                symbol=m.symbol,
                edge=m.edge,
                expected=str(m.expected),
                actual=str(m.actual),
                difference=str(m.difference),
                value_quote=None if m.value_quote is None else str(m.value_quote),
                told=m in told,
            )
        self.log.info(
            "positions_checked",
            check_id=str(check_id),
            positions=result.open_positions,
            balances_compared=result.balances_compared,
            mismatches=len(confirmed),
            unconfirmed=unconfirmed,
            all_clear=all_clear,
        )
        return CheckOutcome(check_id, result, tuple(confirmed), unconfirmed, tuple(told), all_clear)

    def _mismatch_event(
        self, check_id: uuid.UUID, m: Mismatch, first_seen_ms: int, at_ms: int, now: int
    ) -> PositionMismatchFound:
        account = self.config.account
        return PositionMismatchFound(
            event_id=PositionMismatchFound.id_for(account, check_id, m.kind.value, m.asset, m.edge),
            correlation_id=check_id,
            ts_event_ms=at_ms,
            ts_init_ms=now,
            account=account,
            check_id=check_id,
            kind=m.kind.value,
            asset=m.asset,
            symbol=m.symbol,
            edge=m.edge,
            quote_asset=m.quote_asset,
            expected=m.expected,
            actual=m.actual,
            difference=m.difference,
            value_quote=m.value_quote,
            first_seen_ms=first_seen_ms,
            text=m.text[:2000],
        )

    def _message(self, check_id: uuid.UUID, m: Mismatch, *, reminder: bool, first_seen_ms: int) -> SendUserMessage:
        account = self.config.account
        prefix = "still open" if reminder else "position mismatch"
        since = f" (since {_utc(first_seen_ms)})" if reminder else ""
        tags = {"account": account, "kind": m.kind.value, "asset": m.asset, "symbol": m.symbol}
        if m.edge is not None:
            tags["edge"] = m.edge
        return SendUserMessage(
            event_id=deterministic_id(SERVICE, "message", account, check_id, m.kind.value, m.asset, m.edge or "-"),
            correlation_id=check_id,
            ts_event_ms=self.clock.now_ms(),
            ts_init_ms=self.clock.now_ms(),
            service=SERVICE,
            kind=MESSAGE_KIND,
            severity=Severity.WARNING,
            text=f"⚠️ {prefix}{since} [{account}]: {m.text}"[:4000],
            tags=tags,
        )

    def _all_clear(self, check_id: uuid.UUID, at_ms: int, now: int) -> SendUserMessage:
        account = self.config.account
        resolved = ", ".join(
            f"{kind} {asset}" + ("" if edge == "-" else f" ({edge})") for kind, asset, edge in self._open
        )
        return SendUserMessage(
            event_id=deterministic_id(SERVICE, "all-clear", account, check_id),
            correlation_id=check_id,
            ts_event_ms=at_ms,
            ts_init_ms=now,
            service=SERVICE,
            kind=MESSAGE_KIND,
            severity=Severity.INFO,
            text=f"✅ [{account}] all positions match the exchange again (resolved: {resolved})"[:4000],
            tags={"account": account, "state": "all-clear"},
        )


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
