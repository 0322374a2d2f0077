from __future__ import annotations

from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import AccountBalancesUpdated, Envelope, ExecutionReportReceived


def symbol_of_report(event: Envelope) -> str:
    """Reports of one (account, symbol) touch the same orders and position; other symbols are independent."""
    assert isinstance(event, ExecutionReportReceived)
    return f"{event.account}:{event.symbol}"


def trackers_execution_reports(prefetch: int = 50, delivery_limit: int = 5) -> Subscription:
    return Subscription(
        queue="trackers.execution-reports",
        bindings=(Binding(ExecutionReportReceived.EXCHANGE, "execution.#"),),
        accepts=(ExecutionReportReceived,),
        description="execution reports → tracked orders and positions (order-tracker, position-tracker)",
        prefetch=prefetch,
        delivery_limit=delivery_limit,
        ordering_key=symbol_of_report,  # a batch's symbols are tracked concurrently, each in delivery order
    )


def trackers_balances(prefetch: int = 50, delivery_limit: int = 5) -> Subscription:
    return Subscription(
        queue="trackers.balances",
        bindings=(Binding(AccountBalancesUpdated.EXCHANGE, "balances.#"),),
        accepts=(AccountBalancesUpdated,),
        description="balance updates and snapshots → the valued portfolio (portfolio-tracker)",
        prefetch=prefetch,
        delivery_limit=delivery_limit,
    )
