"""`binance-tool`: the user CLI (typer + rich)."""

from __future__ import annotations

import typer

from cli import demo_cmd, docs_cmd, edge70_cmd

app = typer.Typer(
    help="binance-tool: event-driven crypto trading engine — user CLI",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(edge70_cmd.app, name="edge70")
app.add_typer(docs_cmd.app, name="docs")
app.command("demo")(demo_cmd.demo)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
