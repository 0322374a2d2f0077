"""edge70 in freqtrade's backtesting engine (PyPI `freqtrade`), one `Backtesting` per symbol.

The strategy is a regular freqtrade strategy file (`freqtrade_strategies/edge70_strategy.py`), loaded by
freqtrade's StrategyResolver.  The configuration goes through freqtrade's own configuration loader, as for
`freqtrade backtesting`; what differs from the CLI command:

- candles are read from our CSV files into freqtrade's OHLCV dataframe layout in this process (freqtrade's
  data handlers read only their own json/feather/parquet files), then `Backtesting.backtest_one_strategy`
  runs on them — the same call `freqtrade backtesting` makes after loading its data;
- there is no network: the exchange's market list is replaced by a static one (spot, no filters, amounts
  in steps of 1e-8, no price rounding) — freqtrade would otherwise download it from Binance at start;
- each symbol is backtested alone with its own 10,000 USDT wallet (freqtrade itself would share one wallet).

    .venv/bin/python -m bench.competitors.freqtrade_run --interval 1d --out /tmp/ft
"""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import tempfile
import time
from copy import deepcopy
from pathlib import Path
from typing import Any

_t0 = time.perf_counter()

import pandas as pd  # noqa: E402
from freqtrade import __version__  # noqa: E402
from freqtrade.commands.optimize_commands import setup_optimize_configuration  # noqa: E402
from freqtrade.enums import RunMode  # noqa: E402
from freqtrade.exchange import Exchange  # noqa: E402
from freqtrade.optimize.backtesting import Backtesting  # noqa: E402
from freqtrade.resolvers import ExchangeResolver  # noqa: E402

from bench.competitors import CASH, FEE, QTY_STEP, Trade, end_trade, read_candles, run_cli  # noqa: E402

IMPORT_S = time.perf_counter() - _t0

STRATEGY_DIR = Path(__file__).resolve().parent / "freqtrade_strategies"
REASONS = {"exit_signal": "signal", "stop_loss": "stop", "trailing_stop_loss": "stop", "force_exit": "end"}

NOTES = {
    "entry": "limit order placed at the signal candle's next open at custom_entry_price = min(open, limit): "
    "freqtrade books a limit order at its own price whenever the candle trades through it (low <= price <= "
    "high), so a buy limit above the open would be filled at the limit instead of the open. The order is "
    "cancelled on the next candle by check_entry_timeout (counting candles like ours; unfilledtimeout counts "
    "minutes, so after a gap in the hourly data it would cancel before the next candle could fill it)",
    "stop": "stoploss = -0.15 from the fill price. freqtrade checks the stop on the fill candle too; "
    "custom_stoploss(after_fill=True) switches it off for that candle when the fill was at the limit (below the "
    "open) and restores fill × 0.85 from the next candle (freqtrade then calls the exit trailing_stop_loss). "
    "A stop is filled at the stop price unless the whole candle is below it (then at the open): a candle that "
    "opens below the stop and trades back above it exits at the stop in freqtrade, at the open in ours",
    "end": "freqtrade force-exits open trades at the last candle's OPEN with a fee; they are re-marked here at the "
    "last close without an exit fee, as ours reports them",
    "markets": "static market list (no network): precision amount 1e-8, price unrounded, no min/max limits",
}

_BASE: dict[str, Any] = {}
_EXCHANGE: list[Exchange] = []


def _static_markets(symbols: list[str]) -> dict[str, dict[str, Any]]:
    markets = {}
    for s in symbols:
        base = s.removesuffix("USDT")
        pair = f"{base}/USDT"
        markets[pair] = {
            "id": s,
            "symbol": pair,
            "base": base,
            "quote": "USDT",
            "baseId": base,
            "quoteId": "USDT",
            "settle": None,
            "active": True,
            "type": "spot",
            "spot": True,
            "margin": False,
            "swap": False,
            "future": False,
            "option": False,
            "contract": False,
            "linear": None,
            "inverse": None,
            "contractSize": None,
            "precision": {"amount": QTY_STEP, "price": None},
            "limits": {
                "amount": {"min": None, "max": None},
                "price": {"min": None, "max": None},
                "cost": {"min": None, "max": None},
                "leverage": {"min": None, "max": None},
            },
            "info": {},
        }
    return markets


def _pair(symbol: str) -> str:
    return f"{symbol.removesuffix('USDT')}/USDT"


def setup(interval: str, symbols: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ft-edge70-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    (tmp / "data").mkdir()
    config_file = tmp / "config.json"
    config_file.write_text(
        json.dumps(
            {
                "max_open_trades": 1,
                "stake_currency": "USDT",
                "stake_amount": "unlimited",
                "tradable_balance_ratio": 1.0,
                "dry_run": True,
                "dry_run_wallet": CASH,
                "fee": FEE,
                "timeframe": interval,
                "trading_mode": "spot",
                "entry_pricing": {"price_side": "same", "use_order_book": False, "price_last_balance": 0.0},
                "exit_pricing": {"price_side": "other", "use_order_book": False},
                "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": [_pair(symbols[0])]},
                "pairlists": [{"method": "StaticPairList"}],
                "dataformat_ohlcv": "feather",
                "internals": {},
            }
        )
    )
    args = {
        "config": [str(config_file)],
        "strategy": "Edge70",
        "strategy_path": str(STRATEGY_DIR),
        "user_data_dir": str(tmp),
        "datadir": str(tmp / "data"),
        "timeframe": interval,
        "export": "none",
        "command": "backtesting",
    }
    config = setup_optimize_configuration(args, RunMode.BACKTEST)
    logging.getLogger("freqtrade").setLevel(logging.WARNING)
    markets = _static_markets(symbols)

    def reload_markets(self: Exchange, force: bool = False, *, load_leverage_tiers: bool = True) -> None:
        self._markets = markets
        self._api.markets = markets
        self._last_markets_refresh = int(time.time() * 1000)

    Exchange.reload_markets = reload_markets  # type: ignore[method-assign]
    _EXCHANGE.append(ExchangeResolver.load_exchange(config, load_leverage_tiers=False))
    _BASE.update(config)


def load(symbol: str, interval: str) -> pd.DataFrame:
    df = read_candles(symbol, interval)
    df.insert(0, "date", pd.to_datetime(df["open_time"], unit="ms", utc=True))
    return df


def run(symbol: str, df: pd.DataFrame, interval: str) -> list[Trade]:
    pair = _pair(symbol)
    config = deepcopy(_BASE)
    config["exchange"]["pair_whitelist"] = [pair]
    bt = Backtesting(config, _EXCHANGE[0], progress_callback=lambda _task: None)
    bt.available_pairs = [pair]
    ohlcv = df[["date", "open", "high", "low", "close", "volume"]]
    timerange = bt.timerange
    timerange.adjust_start_if_necessary(bt.timeframe_secs, bt.required_startup, ohlcv["date"].iloc[0])
    strategy = bt.strategylist[0]
    bt.backtest_one_strategy(strategy, {pair: ohlcv}, timerange)
    results = bt.all_bt_content[strategy.get_strategy_name()]["results"]
    out = []
    last = df.iloc[-1]
    for r in results.itertuples(index=False):
        entry_ms = int(r.open_date.timestamp() * 1000)
        reason = REASONS.get(r.exit_reason, r.exit_reason)
        if reason == "end":
            out.append(end_trade(symbol, entry_ms, r.open_rate, r.amount, last))
            continue
        fees = r.amount * (r.open_rate * r.fee_open + r.close_rate * r.fee_close)
        out.append(
            Trade(
                symbol,
                entry_ms,
                float(r.open_rate),
                int(r.close_date.timestamp() * 1000),
                float(r.close_rate),
                float(r.amount),
                float(fees),
                float(r.profit_abs),
                reason,
            )
        )
    return out


def main() -> None:
    run_cli("freqtrade", __version__, IMPORT_S, load, run, setup=setup, notes=NOTES)


if __name__ == "__main__":
    main()
