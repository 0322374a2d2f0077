"""Candle store: daily and hourly candles per symbol, loaded from the shared CSV files.

Times are numpy int64 (epoch ms of the candle's open); prices and volumes stay the original decimal strings (they
are what the simulator serves).  float64 copies of high/low exist only to pick the max/min row when aggregating.
Daily files are loaded (and validated) at start-up; hourly files lazily, on first use of a symbol.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

log = structlog.get_logger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
INTERVAL_MS = {"1h": HOUR_MS, "1d": DAY_MS}
HEADER = "open_time,open,high,low,close,volume"


class DataError(ValueError):
    """The candle data is unusable; the message names the file and the row."""


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """One symbol's candles of one interval.  String columns are numpy bytes arrays (the original ASCII decimal
    text, no per-value Python objects: cheap to hold and invisible to the garbage collector); `text(col, i)`
    returns one value as `str`."""

    symbol: str
    interval_ms: int
    open_time: np.ndarray  # int64, strictly increasing
    open: np.ndarray  # bytes (S)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    high_f: np.ndarray  # float64, comparison only
    low_f: np.ndarray  # float64, comparison only

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def empty(cls, symbol: str, interval_ms: int) -> CandleSeries:
        z = np.zeros(0, dtype=np.int64)
        s = np.zeros(0, dtype="S1")
        return cls(symbol, interval_ms, z, s, s, s, s, s, z.astype(np.float64), z.astype(np.float64))


def _compact(col: np.ndarray) -> np.ndarray:
    width = int(np.char.str_len(col).max()) if col.size else 1
    return col.astype(f"S{max(width, 1)}")


def parse_candles(data: bytes | str, symbol: str, interval_ms: int, source: str) -> CandleSeries:
    """Parse and validate CSV (`open_time,open,high,low,close,volume`).  Errors name `source` and the row
    (1-based file line numbers, header = line 1)."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    raw = raw.replace(b"\r\n", b"\n").rstrip(b"\n")
    header, _, body = raw.partition(b"\n")
    if header.strip().decode("ascii", "replace") != HEADER:
        raise DataError(f"{source}: line 1: expected header {HEADER!r}")
    if not body:
        return CandleSeries.empty(symbol, interval_ms)
    n_lines = body.count(b"\n") + 1
    if body.count(b",") != 5 * n_lines:
        for i, line in enumerate(body.split(b"\n")):
            if line.count(b",") != 5:
                raise DataError(f"{source}: line {i + 2}: expected 6 fields, got {line.count(b',') + 1}")
    table = np.array(body.replace(b"\n", b",").split(b","), dtype=np.bytes_).reshape(-1, 6)
    try:
        open_time = table[:, 0].astype(np.int64)
    except ValueError:
        bad = next(i for i, v in enumerate(table[:, 0]) if not v.strip().isdigit())
        raise DataError(f"{source}: line {bad + 2}: open_time {table[bad, 0].decode()!r} is not an integer") from None
    floats = []
    for j, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        try:
            floats.append(table[:, j].astype(np.float64))
        except ValueError:
            bad = next(i for i, v in enumerate(table[:, j]) if not _is_decimal(v))
            raise DataError(f"{source}: line {bad + 2}: {name} {table[bad, j].decode()!r} is not a decimal") from None
    steps = np.diff(open_time)
    if steps.size and (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        what = "duplicate open_time" if steps[i - 1] == 0 else "open_time not increasing"
        raise DataError(f"{source}: line {i + 2}: {what} ({int(open_time[i])} after {int(open_time[i - 1])})")
    misaligned = open_time % interval_ms != 0
    if misaligned.any():
        i = int(np.argmax(misaligned))
        raise DataError(f"{source}: line {i + 2}: open_time {int(open_time[i])} is not on a candle boundary")
    _, high_f, low_f, _, _ = floats
    if (high_f < low_f).any():
        i = int(np.argmax(high_f < low_f))
        raise DataError(f"{source}: line {i + 2}: high < low")
    return CandleSeries(
        symbol=symbol,
        interval_ms=interval_ms,
        open_time=open_time,
        open=_compact(table[:, 1]),
        high=_compact(table[:, 2]),
        low=_compact(table[:, 3]),
        close=_compact(table[:, 4]),
        volume=_compact(table[:, 5]),
        high_f=high_f,
        low_f=low_f,
    )


def _is_decimal(value: bytes) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def load_file(path: Path, symbol: str, interval_ms: int) -> CandleSeries:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return parse_candles(raw, symbol, interval_ms, str(path))


def discover_symbols(data_dir: Path) -> list[str]:
    return sorted(p.name[: -len(".csv")] for p in (data_dir / "1d").glob("*.csv"))


class CandleStore:
    """Per-symbol daily and hourly series.  `series(symbol, "1h")` loads the hourly file on first use."""

    def __init__(self, data_dir: Path, symbols: list[str] | None = None) -> None:
        self.data_dir = data_dir
        available = discover_symbols(data_dir)
        if not available:
            raise DataError(f"{data_dir / '1d'}: no <SYMBOL>.csv files")
        self.symbols: list[str] = sorted(symbols) if symbols else available
        self._series: dict[tuple[str, int], CandleSeries] = {}

    def load_daily(self) -> None:
        for symbol in self.symbols:
            self.series(symbol, "1d")

    def has(self, symbol: str) -> bool:
        return symbol in self.symbols

    def series(self, symbol: str, interval: str) -> CandleSeries:
        interval_ms = INTERVAL_MS[interval]
        key = (symbol, interval_ms)
        found = self._series.get(key)
        if found is None:
            if interval == "1d":
                path = self.data_dir / "1d" / f"{symbol}.csv"
            else:
                path = self.data_dir / "1h" / f"{symbol}.csv.gz"
            if not path.is_file():
                raise DataError(f"{path}: missing")
            found = load_file(path, symbol, interval_ms)
            self._series[key] = found
            log.debug("candles_loaded", symbol=symbol, interval=interval, rows=len(found), file=str(path))
        return found

    def loaded(self) -> list[str]:
        return sorted(f"{s}@{'1d' if ms == DAY_MS else '1h'}" for s, ms in self._series)
