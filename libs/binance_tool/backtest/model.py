"""Backtest settings and results: plain values (Decimal money, UTC ms times)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from binance_tool.edge70.rules import Edge70Config
from binance_tool.trading import EXECUTION_SETTINGS, ExecutionSettings, SizingDecision, SizingRules, SymbolFilters

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BacktestSettings:
    edge: Edge70Config = field(default_factory=Edge70Config)
    sizing: SizingRules = field(default_factory=SizingRules)
    execution: ExecutionSettings = field(default_factory=lambda: EXECUTION_SETTINGS["edge70"])
    fee_rate: Decimal = Decimal("0.001")
    initial_capital: Decimal = Decimal(10000)
    start_ms: int | None = None  # candles before this open time only warm the edge up
    end_ms: int | None = None  # candles after this open time are not read at all

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.fee_rate < 1:
            raise ValueError(f"fee rate must be in [0, 1), got {self.fee_rate}")
        if not self.initial_capital > 0:
            raise ValueError(f"initial capital must be positive, got {self.initial_capital}")
        if self.start_ms is not None and self.end_ms is not None and self.start_ms > self.end_ms:
            raise ValueError("the start is after the end")


class ExitReason(StrEnum):
    SIGNAL = "signal"
    STOP = "stop"
    END = "end"  # still open at the end: marked at the last close, no exit fee


class SignalAction(StrEnum):
    ENTRY_FILLED = "ENTRY_FILLED"
    ENTRY_NOT_FILLED = "ENTRY_NOT_FILLED"  # the limit was not reached before the entry timeout
    ENTRY_PENDING_AT_END = "ENTRY_PENDING_AT_END"  # the data ends before the order could fill
    REFUSED = "REFUSED"  # by the sizer: see refusal and binding constraint
    ALREADY_IN_POSITION = "ALREADY_IN_POSITION"
    EXIT = "EXIT"  # close the position at the next open
    EXIT_PENDING_AT_END = "EXIT_PENDING_AT_END"  # the data ends before the next open
    NO_POSITION = "NO_POSITION"  # short signal without a position (spot cannot short)


@dataclass
class SignalRecord:
    symbol: str
    candle_open_time_ms: int
    signal_time_ms: int
    direction: str
    previous_direction: str
    signal_price: Decimal
    action: SignalAction
    decision: SizingDecision | None = None
    limit_price: Decimal | None = None
    planned_stop: Decimal | None = None


@dataclass(frozen=True)
class Trade:
    symbol: str
    signal_time_ms: int
    entry_time_ms: int  # open time of the candle the entry filled in
    entry_price: Decimal
    filled_at_open: bool
    exit_time_ms: int  # open time of the candle the exit happened in (the last candle for END)
    exit_price: Decimal
    quantity: Decimal
    entry_fee: Decimal
    exit_fee: Decimal
    exit_reason: ExitReason
    stop_price: Decimal
    bars_held: int

    @property
    def fees(self) -> Decimal:
        return self.entry_fee + self.exit_fee

    @property
    def pnl(self) -> Decimal:
        return self.quantity * (self.exit_price - self.entry_price) - self.fees

    @property
    def return_pct(self) -> Decimal:
        cost = self.quantity * self.entry_price + self.entry_fee
        return self.pnl / cost * 100 if cost else Decimal(0)

    @property
    def closed(self) -> bool:
        return self.exit_reason is not ExitReason.END


@dataclass
class BacktestResult:
    settings: BacktestSettings
    interval: str
    symbols: list[str]
    filters: dict[str, SymbolFilters]
    candles: int  # candles read (warm-up included)
    bars: int  # candle times in the trading window (all symbols)
    times: IntArray  # sample times: the last candle of each UTC day in the window
    value: FloatArray  # portfolio value at each sample
    cash: FloatArray  # quote balance (free + reserved for pending entries)
    holdings: FloatArray  # marked value of open positions
    open_positions: IntArray
    symbol_pnl: FloatArray  # [sample, symbol] cumulative realised + unrealised P&L
    exposed_bars: int  # candle times with at least one position held at the close
    symbol_exposed_bars: IntArray  # per symbol
    trades: list[Trade]
    signals: list[SignalRecord]
    warnings: list[str] = field(default_factory=list)
