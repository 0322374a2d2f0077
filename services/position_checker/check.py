"""One check: read the positions and the exchange, reconcile.  Shared by the service and `binance-tool
check-positions`, so both apply the same rules to the same inputs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from binance_tool.clock import Clock
from binance_tool.exchange.execution import AccountData, SpotExecution
from binance_tool.tracking import Position
from binance_tool.tracking.reconcile import Mismatch, ReconcileSettings, compared_assets, reconcile
from services.position_checker.sources import PositionsSource


@dataclass(frozen=True)
class CheckResult:
    account: str
    started_ms: int
    finished_ms: int
    positions: tuple[Position, ...]  # every tracked position read (open and closed)
    balances_compared: int
    mismatches: tuple[Mismatch, ...]

    @property
    def open_positions(self) -> int:
        return sum(1 for p in self.positions if not p.closed)


async def check_positions(
    account_data: AccountData,
    execution: SpotExecution,
    source: PositionsSource,
    account: str,
    settings: ReconcileSettings,
    clock: Clock,
) -> CheckResult:
    """Read everything, then compare.  Any read failing raises (ExchangeUnavailable, a Redis error, ...): a check
    never reports from partial data."""
    started = clock.now_ms()
    positions = await source.positions(account)
    balances, orders, filters, prices = await asyncio.gather(
        account_data.balances(), execution.open_orders(), account_data.symbol_filters(), account_data.prices()
    )
    mismatches = reconcile(positions, balances, orders, filters, prices, settings)
    return CheckResult(
        account=account,
        started_ms=started,
        finished_ms=clock.now_ms(),
        positions=tuple(positions),
        balances_compared=len(compared_assets(positions, balances, settings)),
        mismatches=tuple(mismatches),
    )


def confirmed(first: CheckResult, second: CheckResult) -> list[Mismatch]:
    """The mismatches of `second` that `first` found too (same `Mismatch.key`): still there at the re-check."""
    seen = {m.key for m in first.mismatches}
    return [m for m in second.mismatches if m.key in seen]
