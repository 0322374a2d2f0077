"""The simulator's components, built once by `build_app` and shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.exchange_simulator.clock import SimClock
    from services.exchange_simulator.data import CandleStore
    from services.exchange_simulator.engine import TradingEngine
    from services.exchange_simulator.exchange_info import ExchangeInfo
    from services.exchange_simulator.faults import Faults
    from services.exchange_simulator.hub import StreamHub
    from services.exchange_simulator.rest import WeightCounter
    from services.exchange_simulator.settings import SimulatorSettings
    from services.exchange_simulator.trading_rest import OrderCounter
    from services.exchange_simulator.user_stream import UserStreamHub


@dataclass
class SimState:
    settings: SimulatorSettings
    clock: SimClock
    store: CandleStore
    exchange_info: ExchangeInfo
    faults: Faults
    weight: WeightCounter
    hub: StreamHub
    log: Any
    trading: TradingEngine
    user_hub: UserStreamHub
    order_counter: OrderCounter
