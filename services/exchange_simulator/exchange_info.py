"""exchangeInfo from the 2021-03-24 snapshot, restricted to the symbols with candle data; symbols the snapshot
lacks (APEUSDT, FLOWUSDT: listed later) are synthesized from BTCUSDT's entry with filters derived from the data:

- PRICE_FILTER tickSize = 10^(floor(log10(P)) - 4) but at most 0.01, made finer if needed so every price in the
  daily data is a multiple of it; minPrice = tickSize, maxPrice = "1000000.00000000".
- LOT_SIZE stepSize = minQty = 10^-(floor(log10(P)) + 2) clamped to [1e-8, 1]; maxQty = "9000000.00000000".
- MARKET_LOT_SIZE maxQty = 1,000,000 USDT / P rounded down to the step; minQty = stepSize = 0 (as BTCUSDT).
- PERCENT_PRICE, MIN_NOTIONAL, ICEBERG_PARTS, MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS copied from BTCUSDT.
where P is the median daily close of the symbol.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from binance_tool.trading.filters import derived_filter_values
from services.exchange_simulator.data import CandleSeries

SNAPSHOT_FILE = "exchange_info_2021-03-24.json"
TEMPLATE_SYMBOL = "BTCUSDT"


def _max_decimals(values: np.ndarray) -> int:
    return max((len(v.split(b".", 1)[1].rstrip(b"0")) if b"." in v else 0) for v in values.tolist())


def derived_filters(daily: CandleSeries) -> dict[str, dict[str, str]]:
    """Filter values for a symbol missing from the snapshot (rule in `binance_tool.trading.filters`)."""
    price = float(np.median(daily.close.astype(np.float64)))
    data_decimals = _max_decimals(np.concatenate([daily.open, daily.high, daily.low, daily.close]))
    return derived_filter_values(price, data_decimals)


def synthesize_symbol(template: dict[str, Any], symbol: str, daily: CandleSeries) -> dict[str, Any]:
    quote = template["quoteAsset"]
    if not symbol.endswith(quote):
        raise ValueError(f"cannot synthesize {symbol}: not a {quote} pair")
    entry = copy.deepcopy(template)
    entry.update(symbol=symbol, baseAsset=symbol[: -len(quote)], status="TRADING", isMarginTradingAllowed=False)
    entry["permissions"] = ["SPOT"]
    derived = derived_filters(daily)
    for f in entry["filters"]:
        f.update(derived.get(f["filterType"], {}))
    return entry


class ExchangeInfo:
    """The served symbol entries, keyed by symbol, in snapshot order (synthesized ones appended)."""

    def __init__(
        self, snapshot: dict[str, Any], symbols: list[str], dailies: dict[str, CandleSeries], include_all: bool
    ) -> None:
        by_symbol = {s["symbol"]: s for s in snapshot["symbols"]}
        template = by_symbol[TEMPLATE_SYMBOL]
        self.synthesized = [s for s in symbols if s not in by_symbol]
        wanted = set(symbols)
        entries = [s for s in snapshot["symbols"] if include_all or s["symbol"] in wanted]
        entries += [synthesize_symbol(template, s, dailies[s]) for s in self.synthesized]
        self.symbols: dict[str, dict[str, Any]] = {e["symbol"]: e for e in entries}
        self.timezone = snapshot.get("timezone", "UTC")
        self.rate_limits = snapshot.get("rateLimits", [])
        self.exchange_filters = snapshot.get("exchangeFilters", [])

    def set_request_weight_limit(self, per_minute: int) -> None:
        """Publish `per_minute` as the REQUEST_WEIGHT limit (Binance's today: 6000; the 2022 snapshot says 1200)."""
        self.rate_limits = [
            {**r, "limit": per_minute}
            if r.get("rateLimitType") == "REQUEST_WEIGHT"
            and r.get("interval") == "MINUTE"
            and r.get("intervalNum") == 1
            else r
            for r in self.rate_limits
        ]

    @classmethod
    def load(
        cls, data_dir: Path, symbols: list[str], dailies: dict[str, CandleSeries], include_all: bool
    ) -> ExchangeInfo:
        snapshot = json.loads((data_dir / SNAPSHOT_FILE).read_text())
        return cls(snapshot, symbols, dailies, include_all)

    def response(self, server_time: int, only: list[str] | None = None) -> dict[str, Any]:
        entries = list(self.symbols.values()) if only is None else [self.symbols[s] for s in only]
        return {
            "timezone": self.timezone,
            "serverTime": server_time,
            "rateLimits": self.rate_limits,
            "exchangeFilters": self.exchange_filters,
            "symbols": entries,
        }
