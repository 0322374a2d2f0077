"""`binance-tool docs ...`: generated references."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="generated documentation", no_args_is_help=True)


@app.command("bus")
def bus(out: Path | None = typer.Option(None, "--out", help="write here instead of stdout")) -> None:
    """Markdown reference of exchanges, routing keys and queues."""
    from binance_tool.bus.topology import render_reference
    from services.subscriptions import ALL_SUBSCRIPTIONS

    text = render_reference(ALL_SUBSCRIPTIONS)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text)
