"""`binance-tool`: the user CLI (typer + rich).  Only the invoked command's module is imported (fast start)."""

from __future__ import annotations

import importlib
import sys

import typer

# name → (module, attribute, is a group of sub-commands)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "backtest": ("cli.backtest_cmd", "backtest", False),
    "edge70": ("cli.edge70_cmd", "app", True),
    "docs": ("cli.docs_cmd", "app", True),
    "trading": ("cli.trading_cmd", "app", True),
    "portfolio": ("cli.portfolio_cmd", "portfolio", False),
    "positions": ("cli.portfolio_cmd", "positions", False),
    "demo": ("cli.demo_cmd", "demo", False),
    "performance": ("cli.performance_cmd", "performance", False),
    "check-positions": ("cli.check_cmd", "check_positions_cmd", False),
}


def _root() -> None:
    """binance-tool: event-driven crypto trading engine — user CLI"""


def build(only: str | None = None) -> typer.Typer:
    app = typer.Typer(
        help="binance-tool: event-driven crypto trading engine — user CLI",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)  # keeps sub-command mode even when only one command is registered
    for name, (module, attr, group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attr)
        if group:
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def main() -> None:
    first = sys.argv[1] if len(sys.argv) > 1 else None
    build(first if first in COMMANDS else None)()


if __name__ == "__main__":
    main()
