"""Backtest HTML report: sections, offline-only, escaping, edge cases (no trades, one point, flat), downsampling."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from binance_tool.backtest.html_report import render_report_html
from binance_tool.backtest.svg_chart import MAX_CHART_POINTS, downsample_min_max, nice_ticks

DAY = 86_400_000
T0 = 1_502_928_000_000  # 2017-08-17 00:00 UTC
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


def metrics(trades: int = 3, **over: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "final_value": "12345.678",
        "net_profit": "2345.678",
        "roi_pct": 23.45678,
        "cagr_pct": None,
        "trades": trades,
        "winners_pct": 66.666,
        "max_drawdown_pct": -12.5,
        "max_drawdown_abs": "-1500.5",
        "profit_factor": 1.5,
        "fees_paid": "12.3",
    }
    return m | over


def report(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "run": {
            "interval": "1d",
            "from": "2017-08-17",
            "to": "2022-10-10",
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "edge": {"name": "edge70", "long_lookback": 44, "short_lookback": 21},
            "sizing": {"risk_per_trade": "0.01"},
            "fee_rate": "0.001",
            "initial_capital": "10000",
            "generated_at": "2026-11-25T14:00:00Z",
        },
        "total": metrics(),
        "per_symbol": {"BTCUSDT": metrics(), "ETHUSDT": metrics(0, final_value=None, roi_pct=None)},
        "warnings": ["ETHUSDT: 2 gaps"],
    }
    return r | over


def trade(symbol: str = "BTCUSDT", pnl: str = "10.5", reason: str = "signal", day: int = 1) -> dict[str, str]:
    return {
        "symbol": symbol,
        "entry_time": "2017-08-18T00:00:00Z",
        "entry_time_ms": str(T0 + day * DAY),
        "entry_price": "4300.12",
        "exit_time": "2017-08-25T00:00:00Z",
        "exit_time_ms": str(T0 + (day + 7) * DAY),
        "exit_price": "4400.5",
        "quantity": "0.1",
        "fees": "0.87",
        "pnl": pnl,
        "return_pct": "2.3",
        "exit_reason": reason,
    }


def render(rep: dict[str, Any] | None = None, n: int = 10, trades: list[dict[str, str]] | None = None) -> str:
    times = [T0 + i * DAY for i in range(n)]
    values = [10_000.0 + 100 * (i % 7) for i in range(n)]
    dd = [-(i % 7) * 1.0 for i in range(n)]
    rows = [trade(), trade(pnl="-5.25", reason="stop"), trade(pnl="1", reason="end")] if trades is None else trades
    return render_report_html(
        report() if rep is None else rep, time_ms=times, value=values, drawdown_pct=dd, trades=rows
    )


class TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def parse(page: str) -> TagBalance:
    p = TagBalance()
    p.feed(page)
    p.close()
    return p


def polyline_point_counts(page: str) -> list[int]:
    return [len(m.split()) for m in re.findall(r'<polyline points="([^"]*)"', page)]


def test_page_contains_title_summary_charts_per_symbol_trades_and_warnings() -> None:
    page = render()
    assert "<h1>Backtest edge70 · 1d · 2017-08-17 → 2022-10-10</h1>" in page
    for anchor in ("summary", "equity", "drawdown", "per-symbol", "trades", "warnings"):
        assert f'id="{anchor}"' in page
    assert page.count("<svg") == 2
    assert len(polyline_point_counts(page)) == 2
    assert "long_lookback=44" in page
    assert "ETHUSDT: 2 gaps" in page
    assert "Trades (3: 2 winners, 1 losers)" in page


def test_page_has_no_external_references_or_scripts() -> None:
    page = render().lower()
    for needle in ("http://", "https://", "<script", "src=", "@import", "url(", "<link", "//cdn"):
        assert needle not in page


def test_page_parses_with_balanced_tables_and_svgs() -> None:
    p = parse(render())
    assert p.errors == []
    assert p.stack == []
    assert p.counts["table"] >= 4  # params, summary, per symbol, trades
    assert p.counts["svg"] == 2


def test_malicious_symbol_and_warning_text_is_html_escaped() -> None:
    evil = '<script>alert("x")</script>'
    rep = report(
        run=report()["run"] | {"symbols": [evil]},
        per_symbol={evil: metrics()},
        warnings=[f"bad {evil}"],
    )
    page = render(rep, trades=[trade(symbol=evil)])
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert parse(page).errors == []


def test_money_percent_and_missing_values_are_formatted_readably() -> None:
    page = render()
    assert ">12,345.68<" in page  # final_value str -> 2 decimals + separators
    assert ">23.46%<" in page  # roi_pct
    assert ">-1,500.50<" in page  # max_drawdown_abs
    assert ">—<" in page  # cagr_pct None


def test_unknown_metric_keys_are_rendered_with_generic_label() -> None:
    page = render(report(total=metrics(brand_new_ratio=1.23456, other_pct=4.5)))
    assert "Brand new ratio" in page and ">1.23<" in page
    assert ">4.50%<" in page


def test_symbol_without_trades_and_symbol_missing_from_per_symbol_show_dashes() -> None:
    rep = report(run=report()["run"] | {"symbols": ["BTCUSDT", "ETHUSDT", "LTCUSDT"]})
    rep["per_symbol"]["ETHUSDT"] = {k: (0 if k == "trades" else None) for k in metrics()}
    page = render(rep)
    section = page.split('id="per-symbol"')[1].split('id="trades"')[0]
    for sym in ("BTCUSDT", "ETHUSDT", "LTCUSDT"):
        assert f"<td>{sym}</td>" in section
    assert section.count(">—<") >= 2 * (len(metrics()) - 1)
    assert parse(page).errors == []


def test_zero_trades_renders_no_trades_message() -> None:
    page = render(report(total=metrics(0), per_symbol={}, warnings=[]), trades=[])
    assert "Trades (none)" in page and "No trades." in page
    assert 'id="warnings"' not in page
    assert parse(page).errors == []


def test_winning_and_losing_trades_are_coloured_and_end_exit_is_explained() -> None:
    page = render()
    assert page.count('<tr class="win">') == 2
    assert page.count('<tr class="loss">') == 1
    assert "end (marked at last close)" in page
    assert "2017-08-18 00:00" in page  # entry time from entry_time_ms, UTC


def test_single_equity_point_renders_a_marker_and_one_date_label() -> None:
    page = render(n=1)
    assert page.count("<circle") == 2
    assert polyline_point_counts(page) == []
    assert ">2017-08-17<" in page
    assert parse(page).errors == []


def test_flat_series_renders_without_division_by_zero() -> None:
    n = 50
    page = render_report_html(
        report(), time_ms=[T0 + i * DAY for i in range(n)], value=[10_000.0] * n, drawdown_pct=[0.0] * n, trades=[]
    )
    assert polyline_point_counts(page) == [n, n]
    assert not re.search(r"\b(nan|inf)\b|∞", page, re.IGNORECASE)


def test_empty_series_renders_no_data_placeholder() -> None:
    page = render_report_html(report(), time_ms=[], value=[], drawdown_pct=[], trades=[])
    assert page.count("no data") == 2
    assert parse(page).errors == []


def test_downsampling_keeps_global_min_and_max_of_50000_points_and_limits_count() -> None:
    n = 50_000
    times = [T0 + i * 60_000 for i in range(n)]
    values = [10_000.0 + (i % 97) for i in range(n)]
    values[12_345] = 99_999.0  # one-sample spike up
    values[40_001] = 1.0  # one-sample spike down
    pts = downsample_min_max(times, values)
    assert len(pts) <= MAX_CHART_POINTS
    assert max(v for _, v in pts) == 99_999.0
    assert min(v for _, v in pts) == 1.0
    assert [t for t, _ in pts] == sorted(t for t, _ in pts)
    page = render_report_html(report(), time_ms=times, value=values, drawdown_pct=[-v / 1e5 for v in values], trades=[])
    assert all(c <= MAX_CHART_POINTS for c in polyline_point_counts(page))


def test_downsampling_leaves_short_series_whole_and_drops_non_finite() -> None:
    assert downsample_min_max([1, 2, 3], [1.0, float("nan"), 3.0]) == [(1, 1.0), (3, 3.0)]


def test_nice_ticks_cover_the_range_including_a_flat_one() -> None:
    ticks = nice_ticks(9_123.0, 71_456.0)
    assert ticks[0] <= 9_123.0 and ticks[-1] >= 71_456.0 and 3 <= len(ticks) <= 8
    flat = nice_ticks(5.0, 5.0)
    assert flat[0] < 5.0 < flat[-1]
    assert nice_ticks(0.0, 0.0)[0] < 0.0
