"""Fast, validating loader for candle files (`open_time,open,high,low,close,volume`, `.csv` or `.csv.gz`).

numpy's C CSV reader parses the prices as binary floats; they are then turned into exact 1e-8 integer units with
`rint(x × 1e8)`, which is exact for every price of at most 8 decimals and 15 significant digits (a price with more
decimals is rejected).  Every rule of `read_candle_file` is checked, vectorised, and the first offending row is
named (file and 1-based line number, the header being line 1).  Malformed text (a bad number, a wrong column
count) is located by re-reading the file with the exact `Decimal` reader, whose error names the row.
Files are decompressed and parsed on a small thread pool (zlib and the parser release the GIL part of the time).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from binance_tool.market.candles import HEADER, INTERVAL_MS, CandleDataError, CandleSeries, read_candle_file
from binance_tool.market.units import PRICE_SCALE

_HEADER_LINE = ",".join(HEADER).encode()


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.name.endswith(".gz") else raw
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # BadGzipFile is an OSError: first
        raise CandleDataError(f"{path}: unreadable: {exc}") from None
    except OSError as exc:
        raise CandleDataError(f"{path}: cannot open: {exc.strerror or exc}") from None


def _first_bad_row(path: Path, interval: str | None) -> CandleDataError:
    """Re-read with the exact reader to name the malformed row."""
    try:
        for _ in read_candle_file(path, interval):
            pass
    except CandleDataError as exc:
        return exc
    return CandleDataError(f"{path}: malformed CSV")


def _row_error(path: Path, index: int, what: str) -> CandleDataError:
    return CandleDataError(f"{path}: row {index + 2}: {what}")


def _to_units(path: Path, values: npt.NDArray[np.float64], column: str) -> npt.NDArray[np.int64]:
    scaled = values * PRICE_SCALE
    units = np.rint(scaled)
    off = np.abs(scaled - units) > 0.01 + np.abs(units) * 1e-15
    if off.any():
        i = int(np.argmax(off))
        raise _row_error(path, i, f"{column} {values[i]!r} has more than 8 decimals")
    out: npt.NDArray[np.int64] = units.astype(np.int64)
    return out


def load_series_file(path: Path, symbol: str, interval: str | None = None) -> CandleSeries:
    """One validated file.  `interval` (e.g. "1d") also checks that open times sit on that interval's grid."""
    data = _read_bytes(path)
    first_nl = data.find(b"\n")
    header = (data if first_nl < 0 else data[:first_nl]).strip()
    if not header:
        raise CandleDataError(f"{path}: empty file (expected header {','.join(HEADER)})")
    if header.replace(b" ", b"") != _HEADER_LINE:
        raise CandleDataError(
            f"{path}: row 1: header must be {','.join(HEADER)}, got {header.decode('utf-8', 'replace')}"
        )
    body = b"" if first_nl < 0 else data[first_nl + 1 :]
    try:
        table = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise _first_bad_row(path, interval) from None
    if table.size == 0:
        table = np.empty((0, 6), dtype=np.float64)
    if table.shape[1] != 6:
        raise _first_bad_row(path, interval)
    if not np.isfinite(table).all():
        raise _row_error(path, int(np.argmax(~np.isfinite(table).all(axis=1))), "not a finite number")
    times = table[:, 0]
    open_time = times.astype(np.int64)
    if (open_time != times).any():
        raise _row_error(path, int(np.argmax(open_time != times)), "open_time is not an integer")
    prices = table[:, 1:5]
    if (bad := (prices <= 0).any(axis=1)).any():
        raise _row_error(path, int(np.argmax(bad)), f"prices must be positive, got {table[int(np.argmax(bad))]}")
    if (table[:, 5] < 0).any():
        raise _row_error(path, int(np.argmax(table[:, 5] < 0)), "negative volume")
    o, h, lo, c = (_to_units(path, table[:, k], name) for k, name in enumerate(HEADER[1:5], start=1))
    bad = (lo > np.minimum(o, c)) | (h < np.maximum(o, c))
    if bad.any():
        i = int(np.argmax(bad))
        raise _row_error(path, i, f"high/low do not bound open/close: {table[i].tolist()}")
    if open_time.shape[0] > 1:
        diffs = np.diff(open_time)
        if (diffs == 0).any():
            i = int(np.argmax(diffs == 0)) + 1
            raise _row_error(path, i, f"duplicate open_time {open_time[i]}")
        if (diffs < 0).any():
            i = int(np.argmax(diffs < 0)) + 1
            raise _row_error(
                path,
                i,
                f"open_time {open_time[i]} is before the previous row's {open_time[i - 1]} (rows must be sorted)",
            )
        step = INTERVAL_MS.get(interval or "", 0)
        if step and (diffs % step).any():
            i = int(np.argmax(diffs % step != 0)) + 1
            raise _row_error(path, i, f"open_time {open_time[i]} is not on the {interval} grid of the previous row")
    return CandleSeries(symbol, open_time, o, h, lo, c, table[:, 5].copy())


def load_series_files(files: Mapping[str, Path], interval: str | None = None) -> dict[str, CandleSeries]:
    """Several files in parallel; the first error (in symbol order) is raised."""
    items = list(files.items())
    if len(items) <= 1:
        return {s: load_series_file(p, s, interval) for s, p in items}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(load_series_file, p, s, interval) for s, p in items]
        return {s: f.result() for (s, _), f in zip(items, futures, strict=True)}


def infer_interval(series: Mapping[str, CandleSeries]) -> str:
    """The interval whose length is the most common spacing of open times (error when none matches)."""
    diffs = [np.diff(s.open_time_ms) for s in series.values() if len(s) > 1]
    if not diffs:
        raise CandleDataError("cannot infer the candle interval: no file has two candles (pass --interval)")
    values, counts = np.unique(np.concatenate(diffs), return_counts=True)
    spacing = int(values[int(np.argmax(counts))])
    for name, ms in INTERVAL_MS.items():
        if ms == spacing:
            return name
    raise CandleDataError(f"cannot infer the candle interval: candles are {spacing} ms apart (pass --interval)")


def gaps(series: CandleSeries, interval: str) -> list[tuple[int, int]]:
    """(open time before the gap, number of missing candles) for every gap."""
    step = INTERVAL_MS[interval]
    diffs = np.diff(series.open_time_ms)
    idx = np.flatnonzero(diffs != step)
    return [(int(series.open_time_ms[i]), int(diffs[i] // step) - 1) for i in idx]
