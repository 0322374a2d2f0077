"""`binance-tool backtest`: its files on the shared data, and a clear error (exit 2) for every kind of bad input."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from binance_tool.market.candles import CandleDataError
from binance_tool.market.fast_load import load_series_file
from cli.main import build

HEADER = "open_time,open,high,low,close,volume\n"
DAY = 86_400_000
GOOD = [f"{1_600_000_000_000 + i * DAY - 1_600_000_000_000 % DAY},10,11,9,10.5,100\n" for i in range(80)]


def invoke(*args: str):
    return CliRunner().invoke(build("backtest"), ["backtest", *args, "--no-progress"])


def test_the_shared_daily_set_produces_every_output_file(shared_data: Path, tmp_path: Path):
    out = tmp_path / "bt"
    result = invoke("--candles-dir", str(shared_data / "1d"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"trades.csv", "signals.csv", "equity.csv", "report.json", "report.html"}
    report = json.loads((out / "report.json").read_text())
    for key in ("net_profit", "roi_pct", "cagr_pct", "trades", "winners_pct", "avg_trade_length_days",
                "max_drawdown_pct", "max_drawdown_duration_days", "max_loss_per_trade", "max_consecutive_losses",
                "max_consecutive_wins", "profit_to_max_drawdown", "avg_win_to_avg_loss", "profit_factor",
                "expectancy", "sharpe", "sortino", "calmar", "exposure_time_pct", "open_profit"):  # fmt: skip
        assert key in report["total"] and key in report["per_symbol"]["BTCUSDT"], key
    assert len(report["per_symbol"]) == 33 and report["total"]["trades"] > 100
    trades = list(csv.DictReader((out / "trades.csv").open()))
    assert {t["exit_reason"] for t in trades} <= {"signal", "stop", "end"}
    assert "exchange_info_2021-03-24.json" in report["run"]["exchange_info"]
    page = (out / "report.html").read_text()
    assert "<svg" in page and "http://" not in page and "https://" not in page
    assert "ROI" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2021-01-02", "--to", "2021-01-01"], "is after --to"),
        (["--from", "2021-13-01"], "must be a date"),
        (["--symbols", "BTCUSDT,NOPEUSDT"], "NOPEUSDT"),
        (["--fee", "abc"], "--fee must be a number"),
        (["--risk-per-trade", "2"], "risk_per_trade must be a fraction"),
        (["--open-risk-basis", "magic"], "entry or mark"),
        (["--from", "2030-01-01"], "no candles between"),
        (["--interval", "3h"], "--interval must be one of"),
        (["--initial-capital", "-5"], "initial capital must be positive"),
    ],
)
def test_bad_usage_exits_2_with_the_reason(shared_data: Path, tmp_path: Path, args, message):
    result = invoke("--candles-dir", str(shared_data / "1d"), "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(lines))
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([*GOOD[:5], GOOD[3], *GOOD[6:]], "row 7: open_time .* before the previous row"),
        ([*GOOD[:5], GOOD[4], *GOOD[5:]], "row 7: duplicate open_time"),
        ([*GOOD[:3], GOOD[3].replace(",10,11,9,", ",0,11,9,"), *GOOD[4:]], "row 5: prices must be positive"),
        ([*GOOD[:3], GOOD[3].replace(",10,11,9,", ",ten,11,9,"), *GOOD[4:]], "row 5: not a number"),
        ([*GOOD[:3], GOOD[3].replace(",10,11,9,", ",10,11,9,0.123456789"), *GOOD[4:]], "row 5"),
        ([*GOOD[:3], GOOD[3].replace(",11,", ",10.2,"), *GOOD[4:]], "row 5: high/low do not bound"),
        ([*GOOD[:3], "1600000000000,10,11\n", *GOOD[4:]], "row 5: expected 6 columns"),
        ([*GOOD[:3], GOOD[3].replace("00000,", "00001,", 1), *GOOD[4:]], "not on the 1d grid"),
    ],
)
def test_bad_candle_rows_are_named_by_file_and_row(tmp_path: Path, lines, message):
    path = write(tmp_path / "XUSDT.csv", lines)
    with pytest.raises(CandleDataError, match=message) as exc:
        load_series_file(path, "XUSDT", "1d")
    assert str(path) in str(exc.value)
    result = invoke("--candles-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "XUSDT.csv" in result.output


def test_missing_empty_and_corrupt_files_are_errors(tmp_path: Path):
    assert invoke("--candles-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")).exit_code == 2
    (tmp_path / "EMPTYUSDT.csv").write_text("")
    with pytest.raises(CandleDataError, match="empty file"):
        load_series_file(tmp_path / "EMPTYUSDT.csv", "EMPTYUSDT")
    (tmp_path / "BADUSDT.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CandleDataError, match="unreadable"):
        load_series_file(tmp_path / "BADUSDT.csv.gz", "BADUSDT")
    (tmp_path / "HDRUSDT.csv").write_text("time,o,h,l,c,v\n")
    with pytest.raises(CandleDataError, match="row 1: header"):
        load_series_file(tmp_path / "HDRUSDT.csv", "HDRUSDT")


def test_a_gap_is_a_warning_with_the_documented_rule_and_the_run_succeeds(tmp_path: Path):
    write(tmp_path / "d" / "XUSDT.csv", GOOD[:30] + GOOD[33:])
    with gzip.open(tmp_path / "d" / "YUSDT.csv.gz", "wt") as fh:
        fh.write(HEADER + "".join(GOOD))
    result = invoke("--candles-dir", str(tmp_path / "d"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "XUSDT: 3 missing 1d candle(s)" in result.output.replace("\n", " ")
    assert json.loads((tmp_path / "o" / "report.json").read_text())["warnings"]


def test_an_unreadable_exchange_info_file_is_an_error(shared_data: Path, tmp_path: Path):
    bad = tmp_path / "info.json"
    bad.write_text("{not json")
    result = invoke("--candles-dir", str(shared_data / "1d"), "--out", str(tmp_path / "o"), "--exchange-info", str(bad))
    assert result.exit_code == 2 and "not a JSON exchangeInfo" in result.output.replace("\n", " ")


def test_an_output_path_that_is_a_file_is_a_clear_error(shared_data: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("--candles-dir", str(shared_data / "1d"), "--symbols", "BTCUSDT", "--out", str(blocker))
    assert result.exit_code == 2 and "cannot write the output" in result.output.replace("\n", " ")
