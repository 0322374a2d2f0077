"""edge70 as a freqtrade strategy (loaded by freqtrade's StrategyResolver from this folder, see ../freqtrade_run.py).

Signals come from `populate_*` on the whole dataframe; freqtrade acts on a signal at the next candle's open.
Entries are limit orders at `custom_entry_price`, cancelled by `check_entry_timeout` after one candle; the size comes
from `custom_stake_amount`; exits are market orders on `exit_long`; the 15 % stop is freqtrade's `stoploss`,
with `custom_stoploss(after_fill=...)` switching it off for the fill candle when the limit filled below the open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from freqtrade.persistence import Order, Trade
from freqtrade.strategy import IStrategy, stoploss_from_absolute
from pandas import DataFrame

from bench.competitors import BUY_LIMIT, HISTORY, LONG_LOOKBACK, SHORT_LOOKBACK, STOP, planned_quantity


class Edge70(IStrategy):
    INTERFACE_VERSION = 3
    can_short = False
    timeframe = "1d"  # the config's timeframe wins
    startup_candle_count = HISTORY
    process_only_new_candles = True
    minimal_roi: dict[str, float] = {}  # no ROI exits
    stoploss = -STOP  # initial stop: open_rate × 0.85, i.e. the fill price
    trailing_stop = False
    use_custom_stoploss = True
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False
    order_types = {"entry": "limit", "exit": "market", "stoploss": "market", "stoploss_on_exchange": False}

    def bot_start(self, **kwargs: Any) -> None:
        self._entry_at_open: dict[str, bool] = {}

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        high, low = dataframe["high"], dataframe["low"]
        evaluated = np.arange(len(dataframe)) >= HISTORY
        long_t = evaluated & (high > high.shift(1).rolling(LONG_LOOKBACK).max()).to_numpy()
        short_t = evaluated & (low < low.shift(1).rolling(SHORT_LOOKBACK).min()).to_numpy()
        step = np.where(long_t & ~short_t, 1.0, np.where(short_t & ~long_t, -1.0, np.nan))
        direction = DataFrame({"d": step})["d"].ffill().fillna(0.0).to_numpy()
        previous = np.concatenate(([0.0], direction[:-1]))
        dataframe["long_signal"] = (previous == -1) & (direction == 1)
        dataframe["short_signal"] = (previous == 1) & (direction == -1)
        dataframe["limit_price"] = dataframe["close"] * (1 + BUY_LIMIT)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["long_signal"], "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["short_signal"], "exit_long"] = 1
        return dataframe

    def _signal_limit(self, pair: str) -> float:
        """The limit of the signal candle (the last closed candle when the order is placed)."""
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        return float(df["limit_price"].iat[-1])

    def custom_entry_price(
        self,
        pair: str,
        trade: Trade | None,
        current_time: datetime,
        proposed_rate: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        # proposed_rate is the candle's open. A buy limit above the market fills at the market (the open);
        # freqtrade would book it at the limit price itself, so the order is placed at min(open, limit).
        limit = self._signal_limit(pair)
        self._entry_at_open[pair] = proposed_rate <= limit
        return min(proposed_rate, limit)

    def check_entry_timeout(self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs: Any) -> bool:
        """Timeout of one candle: an entry order still open when the next candle starts is cancelled."""
        return current_time > order.order_date_utc

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        equity = self.wallets.get_total(self.config["stake_currency"])  # flat: cash = equity
        return planned_quantity(equity, self._signal_limit(pair)) * current_rate

    def custom_stoploss(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs: Any,
    ) -> float | None:
        if after_fill:
            # Filled at the limit, below the open: our rule checks the stop from the next candle only.
            return None if self._entry_at_open.get(pair, True) else 0.99
        if current_time > trade.open_date_utc:
            stop = trade.open_rate * (1 - STOP)
            if trade.stop_loss < stop:  # switched off on the fill candle: back to fill × 0.85
                return stoploss_from_absolute(stop, current_rate)
        return None
