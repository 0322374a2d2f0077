"""Candles as pure values, and loading a candle directory (`<SYMBOL>.csv` or `<SYMBOL>.csv.gz`).

File format (as `../shared/data/binance-spot/1d`): header `open_time,open,high,low,close,volume`; open_time is the
candle's OPEN time in UTC ms.  Rows must be sorted by open time without duplicates; prices must be positive.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import numpy.typing as npt

from binance_tool.market.units import from_units, to_units

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
HEADER = ["open_time", "open", "high", "low", "close", "volume"]


class CandleDataError(ValueError):
    """Bad candle input; the message names the file and row."""


@dataclass(frozen=True, slots=True)
class Candle:
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def close_time_ms(self, interval: str) -> int:
        return self.open_time_ms + INTERVAL_MS[interval] - 1


@dataclass(frozen=True)
class CandleSeries:
    """One market's candles in column form: exact integer price units (1e-8) for vectorised rules."""

    symbol: str
    open_time_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.int64]
    high: npt.NDArray[np.int64]
    low: npt.NDArray[np.int64]
    close: npt.NDArray[np.int64]
    volume: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    def close_at(self, i: int) -> Decimal:
        """The close of candle i as the exchange wrote it (exact)."""
        return from_units(int(self.close[i]))

    def window(self, start: int, stop: int) -> CandleSeries:
        return CandleSeries(
            self.symbol,
            self.open_time_ms[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            None if self.volume is None else self.volume[start:stop],
        )

    @classmethod
    def from_candles(cls, symbol: str, candles: Iterable[Candle]) -> CandleSeries:
        rows = list(candles)
        return cls(
            symbol=symbol,
            open_time_ms=np.array([c.open_time_ms for c in rows], dtype=np.int64),
            open=np.array([to_units(c.open) for c in rows], dtype=np.int64),
            high=np.array([to_units(c.high) for c in rows], dtype=np.int64),
            low=np.array([to_units(c.low) for c in rows], dtype=np.int64),
            close=np.array([to_units(c.close) for c in rows], dtype=np.int64),
            volume=np.array([float(c.volume) for c in rows], dtype=np.float64),
        )


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return io.TextIOWrapper(open(path, "rb"), encoding="utf-8", newline="")


def read_candle_file(path: Path, interval: str | None = None) -> Iterator[Candle]:
    """Yield the candles of one file, validating as it goes (CandleDataError names file and row)."""
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise CandleDataError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise CandleDataError(f"{path}: empty file (expected header {','.join(HEADER)})") from None
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise CandleDataError(f"{path}: unreadable: {exc}") from None
        if [h.strip() for h in header] != HEADER:
            raise CandleDataError(f"{path}: row 1: header must be {','.join(HEADER)}, got {','.join(header)}")
        previous: int | None = None
        step = INTERVAL_MS.get(interval or "", 0)
        row_no = 1
        try:
            for row_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != 6:
                    raise CandleDataError(f"{path}: row {row_no}: expected 6 columns, got {len(row)}")
                try:
                    open_time = int(row[0])
                    o, h, low, c, v = (Decimal(x) for x in row[1:])
                except (ValueError, InvalidOperation):
                    raise CandleDataError(f"{path}: row {row_no}: not a number in {row}") from None
                if min(o, h, low, c) <= 0 or not all(x.is_finite() for x in (o, h, low, c, v)):
                    raise CandleDataError(f"{path}: row {row_no}: prices must be positive, got {row}")
                if v < 0:
                    raise CandleDataError(f"{path}: row {row_no}: negative volume {v}")
                if not (low <= min(o, c) and h >= max(o, c)):
                    raise CandleDataError(f"{path}: row {row_no}: high/low do not bound open/close: {row}")
                if previous is not None:
                    if open_time == previous:
                        raise CandleDataError(f"{path}: row {row_no}: duplicate open_time {open_time}")
                    if open_time < previous:
                        raise CandleDataError(
                            f"{path}: row {row_no}: open_time {open_time} is before the "
                            f"previous row's {previous} (rows must be sorted)"
                        )
                    if step and (open_time - previous) % step:
                        raise CandleDataError(
                            f"{path}: row {row_no}: open_time {open_time} is not on the "
                            f"{interval} grid of the previous row"
                        )
                previous = open_time
                yield Candle(open_time, o, h, low, c, v)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            raise CandleDataError(f"{path}: row {row_no}: unreadable: {exc}") from None


def symbol_of(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise CandleDataError(f"{path}: not a .csv or .csv.gz candle file")


def candle_files(directory: Path, symbols: Iterable[str] | None = None) -> dict[str, Path]:
    """Map symbol → file in a candle directory; unknown requested symbols are an error."""
    if not directory.is_dir():
        raise CandleDataError(f"{directory}: not a directory")
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.name.endswith((".csv", ".csv.gz")):
            symbol = symbol_of(path)
            if symbol in files:
                raise CandleDataError(f"{directory}: both {files[symbol].name} and {path.name} exist for {symbol}")
            files[symbol] = path
    if not files:
        raise CandleDataError(f"{directory}: no .csv or .csv.gz candle files")
    if symbols is not None:
        wanted = [s.strip().upper() for s in symbols if s.strip()]
        missing = [s for s in wanted if s not in files]
        if missing:
            raise CandleDataError(f"{directory}: unknown symbol(s) {', '.join(missing)} (no candle file)")
        files = {s: files[s] for s in wanted}
    return files


def load_candles_dir(
    directory: Path,
    symbols: Iterable[str] | None = None,
    interval: str | None = "1d",
) -> dict[str, CandleSeries]:
    """Every (or the requested) market of a candle directory, validated; see `binance_tool.market.fast_load`."""
    from binance_tool.market.fast_load import load_series_files

    return load_series_files(candle_files(directory, symbols), interval)
