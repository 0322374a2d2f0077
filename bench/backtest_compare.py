"""Our backtester against established Python backtesting libraries: speed and trade-list agreement on edge70.

    .venv/bin/python bench/backtest_compare.py [--interval 1d|1h|both] [--repeats 3] [--symbols BTCUSDT ...]
                                               [--tools ours backtesting.py vectorbt freqtrade] [--no-agreement]

The same strategy, data, fees and fill rules run in each tool (see `bench/competitors/`, one module per library
written in that library's idiom; ours is `binance-tool backtest --exchange-info none`):

- edge70 44/21 on the candles of `../shared/data/binance-spot/<interval>/`; a long signal at candle D places a
  limit buy at close[D] × 1.005 for candle D+1 only (fill at the open if it opens at or below the limit, else
  at the limit if the low reaches it); stop fill × 0.85 (exit at the stop, or at the open on a gap); a short
  signal at K exits at open[K+1]; fees 0.1 % per side; open positions marked at the last close;
- sizing: 1 % of equity at risk between the limit and limit × 0.85, one 10,000 USDT account per symbol.

Speed: every tool runs all requested symbols in ONE process, including its own CSV loading; each process is
timed whole (`time.perf_counter` around `subprocess.run`, interpreter start-up and imports included), `repeats`
times in rotating order; the median is reported with candles/s and competitor time / our time.  Ours is a
portfolio run (sizing across symbols from one shared account) and so does more work; the competitors are
isolated per symbol.

Agreement: ours is run once per symbol (`--symbols X`, isolated like the competitors); the competitors' trades
come from their timed runs (they are isolated per symbol by construction).  Trades are matched per symbol by
(entry_time_ms, entry_price, exit_time_ms, exit_price, exit_reason), prices within 1e-6 relative (or one 1e-8
price unit: ours keeps prices in integer 1e-8 units); every difference is classified by its cause (`CAUSES`).

Writes bench/results/backtest_compare.json.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import median, print_table, write_result

from bench.competitors import all_symbols, candles_dir, read_candles

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRICE_RTOL = 1e-6
PRICE_UNIT = 1e-8  # ours keeps prices as integer 1e-8 units (the stop fill × 0.85 is rounded to them)
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Tool:
    name: str
    module: str | None  # competitor module (None: ours)
    dist: str | None  # PyPI distribution
    import_name: str | None


TOOLS = {
    "ours": Tool("ours", None, None, None),
    "backtesting.py": Tool("backtesting.py", "bench.competitors.backtesting_py", "backtesting", "backtesting"),
    "vectorbt": Tool("vectorbt", "bench.competitors.vectorbt_run", "vectorbt", "vectorbt"),
    "freqtrade": Tool("freqtrade", "bench.competitors.freqtrade_run", "freqtrade", "freqtrade"),
}

CAUSES = {
    "fill_candle_stop": "ours stopped out on the fill candle (fill at the open, low at or below fill × 0.85); the "
    "library cannot check a stop on the candle its entry filled in, so its stop comes on a later candle",
    "stop_gap_price": "the candle opened below the stop and traded back above it: ours exits at the open, the "
    "library at the stop price (freqtrade fills a stop at the open only when the whole candle is below it)",
    "knock_on": "follows an earlier difference in the same symbol (a position held longer or shorter blocks or "
    "allows a later entry, and equity — so the size — differs after it)",
    "unexplained": "no known semantic cause",
}


# ---------------------------------------------------------------------------------------------- running tools


def tool_available(tool: Tool) -> str | None:
    """None if the tool can run, else why not."""
    if tool.module is None:
        return None if (BIN / "binance-tool").exists() else f"{BIN / 'binance-tool'} not found"
    if importlib.util.find_spec(tool.import_name or "") is None:
        return f"PyPI package {tool.dist!r} is not installed in {sys.prefix} (pip install {tool.dist})"
    return None


def version(tool: Tool) -> str:
    try:
        return metadata.version(tool.dist or "binance-tool")
    except metadata.PackageNotFoundError:
        return "?"


def command(tool: Tool, interval: str, symbols: list[str] | None, out: Path) -> list[str]:
    if tool.module is None:
        cmd = [str(BIN / "binance-tool"), "backtest", "--candles-dir", str(candles_dir(interval))]
        cmd += ["--interval", interval, "--exchange-info", "none", "--out", str(out), "--no-progress"]
        return cmd + (["--symbols", ",".join(symbols)] if symbols else [])
    cmd = [sys.executable, "-m", tool.module, "--interval", interval, "--out", str(out)]
    return cmd + (["--symbols", *symbols] if symbols else [])


def run_timed(tool: Tool, interval: str, symbols: list[str] | None, out: Path) -> float:
    cmd = command(tool, interval, symbols, out)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{tool.name} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def read_trades(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("entry_time_ms", "exit_time_ms"):
            r[k] = int(r[k])
        for k in ("entry_price", "exit_price", "quantity", "fees", "pnl"):
            r[k] = float(r[k])
        if "stop_price" in r and r["stop_price"] not in ("", None):
            r["stop_price"] = float(r["stop_price"])
    return rows


# ---------------------------------------------------------------------------------------------- agreement


def close(a: float, b: float) -> bool:
    """Within 1e-6 relative, or within one 1e-8 price unit (relevant below ~0.01 USDT, e.g. FTM in 2020)."""
    return abs(a - b) <= max(PRICE_RTOL * max(abs(a), abs(b)), PRICE_UNIT * (1 + 1e-9))


def trade_brief(t: dict[str, Any] | None) -> dict[str, Any] | None:
    if t is None:
        return None
    keys = ("entry_time_ms", "entry_price", "exit_time_ms", "exit_price", "exit_reason", "quantity", "pnl")
    return {k: t[k] for k in keys}


def differing_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = [k for k in ("entry_time_ms", "exit_time_ms", "exit_reason") if a[k] != b[k]]
    return out + [k for k in ("entry_price", "exit_price") if not close(a[k], b[k])]


def classify(ours: dict[str, Any] | None, theirs: dict[str, Any] | None, after_divergence: bool) -> str:
    if ours is not None and theirs is not None and ours["entry_time_ms"] == theirs["entry_time_ms"]:
        if (
            ours["exit_reason"] == "stop"
            and ours["exit_time_ms"] == ours["entry_time_ms"]
            and theirs["exit_time_ms"] > ours["exit_time_ms"]
        ):
            return "fill_candle_stop"
        if (
            ours["exit_reason"] == theirs["exit_reason"] == "stop"
            and ours["exit_time_ms"] == theirs["exit_time_ms"]
            and "stop_price" in ours
            and ours["exit_price"] < ours["stop_price"]
            and close(theirs["exit_price"], ours["stop_price"])
        ):
            return "stop_gap_price"
    return "knock_on" if after_divergence else "unexplained"


def compare(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], symbols: list[str]) -> dict[str, Any]:
    by_symbol: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"ours": [], "theirs": []})
    for t in ours:
        by_symbol[t["symbol"]]["ours"].append(t)
    for t in theirs:
        by_symbol[t["symbol"]]["theirs"].append(t)
    matched = 0
    causes: Counter[str] = Counter()
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fields: Counter[str] = Counter()
    qty_rel: list[float] = []
    qty_rel_before: list[float] = []  # matched trades before the symbol's first difference (same equity path)
    pnl_matched = [0.0, 0.0]
    symbols_identical = 0
    for symbol in symbols:
        o_list = sorted(by_symbol[symbol]["ours"], key=lambda t: t["entry_time_ms"])
        t_list = sorted(by_symbol[symbol]["theirs"], key=lambda t: t["entry_time_ms"])
        o_by = {t["entry_time_ms"]: t for t in o_list}
        t_by = {t["entry_time_ms"]: t for t in t_list}
        diverged = False
        clean = True
        for entry in sorted(o_by.keys() | t_by.keys()):
            o, th = o_by.get(entry), t_by.get(entry)
            if o is None or th is None:
                diff = ["only_ours" if th is None else "only_theirs"]
            else:
                diff = differing_fields(o, th)
            if not diff:
                matched += 1
                qty_rel.append(abs(th["quantity"] - o["quantity"]) / o["quantity"])
                if not diverged:
                    qty_rel_before.append(qty_rel[-1])
                pnl_matched[0] += o["pnl"]
                pnl_matched[1] += th["pnl"]
                continue
            clean = False
            cause = classify(o, th, diverged)
            diverged = True
            causes[cause] += 1
            fields.update(diff)
            if len(examples[cause]) < MAX_EXAMPLES:
                examples[cause].append(
                    {"symbol": symbol, "differs": diff, "ours": trade_brief(o), "theirs": trade_brief(th)}
                )
        symbols_identical += clean
    return {
        "trades_ours": len(ours),
        "trades_theirs": len(theirs),
        "matched": matched,
        "mismatches": sum(causes.values()),
        "symbols_identical": symbols_identical,
        "mismatch_causes": dict(causes),
        "differing_fields": dict(fields),
        "examples": dict(examples),
        "pnl_sum_ours": sum(t["pnl"] for t in ours),
        "pnl_sum_theirs": sum(t["pnl"] for t in theirs),
        "pnl_sum_matched_ours": pnl_matched[0],
        "pnl_sum_matched_theirs": pnl_matched[1],
        "matched_quantity_rel_diff_max": max(qty_rel, default=0.0),
        "matched_quantity_rel_diff_median": median(qty_rel) if qty_rel else 0.0,
        "matched_quantity_rel_diff_max_before_first_difference": max(qty_rel_before, default=0.0),
    }


def ours_per_symbol(interval: str, symbols: list[str], work: Path) -> tuple[list[dict[str, Any]], float]:
    """Our backtest once per symbol (isolated, like the competitors), a few processes at a time."""
    ours = TOOLS["ours"]

    def one(symbol: str) -> list[dict[str, Any]]:
        out = work / f"ours-{interval}-{symbol}"
        run_timed(ours, interval, [symbol], out)
        return read_trades(out / "trades.csv")

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(one, symbols))
    return [tr for rows in results for tr in rows], time.perf_counter() - t


# ---------------------------------------------------------------------------------------------- main


def bench_interval(
    interval: str, symbols: list[str], subset: bool, tools: list[Tool], repeats: int, agreement: bool, work: Path
) -> dict[str, Any]:
    candles = sum(len(read_candles(s, interval)) for s in symbols)
    print(f"\n== {interval}: {len(symbols)} symbols, {candles:,} candles", flush=True)
    runs: dict[str, list[float]] = defaultdict(list)
    outs: dict[str, Path] = {}
    for r in range(repeats):
        order = tools[r % len(tools) :] + tools[: r % len(tools)]  # rotate so no tool always runs first
        for tool in order:
            out = work / f"{tool.name}-{interval}-{r}"
            runs[tool.name].append(run_timed(tool, interval, symbols if subset else None, out))
            if tool.name in outs:
                shutil.rmtree(outs[tool.name], ignore_errors=True)
            outs[tool.name] = out
            print(f"  run {r + 1}/{repeats} {tool.name:<15} {runs[tool.name][-1]:8.2f} s", flush=True)
    ours_s = median(runs["ours"]) if "ours" in runs else None
    speed: dict[str, Any] = {}
    for tool in tools:
        med = median(runs[tool.name])
        entry: dict[str, Any] = {
            "runs_s": runs[tool.name],
            "median_s": med,
            "candles_per_s": candles / med,
            "ratio_vs_ours": med / ours_s if ours_s else None,
        }
        meta = outs[tool.name] / "meta.json"
        if meta.exists():  # the competitor's own phase timings of its last run
            m = json.loads(meta.read_text())
            entry["in_process_s"] = {k: m[k] for k in ("import_s", "load_s", "run_s", "first_symbol_run_s")}
        speed[tool.name] = entry
    result: dict[str, Any] = {"symbols": len(symbols), "candles": candles, "speed": speed}
    trades = {t.name: read_trades(outs[t.name] / "trades.csv") for t in tools}
    if "ours" in trades:
        result["ours_portfolio_trades"] = len(trades["ours"])
    if agreement and "ours" in trades:
        ours_iso, took = ours_per_symbol(interval, symbols, work)
        print(f"  ours per symbol ({len(symbols)} processes): {took:.1f} s", flush=True)
        result["agreement"] = {t.name: compare(ours_iso, trades[t.name], symbols) for t in tools if t.name != "ours"}
        result["ours_isolated_trades"] = len(ours_iso)
    for t in tools:
        meta = outs[t.name] / "meta.json"
        if meta.exists():
            result.setdefault("library_notes", {})[t.name] = json.loads(meta.read_text())["notes"]
    return result


def print_results(interval: str, res: dict[str, Any]) -> None:
    print(f"\n{interval}: {res['symbols']} symbols, {res['candles']:,} candles — whole-process wall time")
    rows = []
    for name, s in res["speed"].items():
        inner = s.get("in_process_s", {})
        rows.append(
            [
                name,
                s["median_s"],
                s["candles_per_s"],
                "-" if s["ratio_vs_ours"] is None else f"{s['ratio_vs_ours']:.1f}x",
                "-" if not inner else f"{inner['import_s']:.2f}/{inner['load_s']:.2f}/{inner['run_s']:.2f}",
            ]
        )
    print_table(["tool", "median s", "candles/s", "vs ours", "import/load/run s"], rows)
    if "agreement" in res:
        print(f"\n{interval}: trade agreement with ours run per symbol (isolated)")
        rows = []
        for name, a in res["agreement"].items():
            causes = ", ".join(f"{k} {v}" for k, v in sorted(a["mismatch_causes"].items())) or "-"
            rows.append(
                [
                    name,
                    f"{a['trades_ours']}/{a['trades_theirs']}",
                    a["matched"],
                    a["mismatches"],
                    f"{a['symbols_identical']}/{res['symbols']}",
                    f"{a['pnl_sum_ours']:.2f}/{a['pnl_sum_theirs']:.2f}",
                    causes,
                ]
            )
        headers = ["tool", "trades ours/theirs", "matched", "differ", "identical symbols", "P&L ours/theirs", "causes"]
        print_table(headers, rows)


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for interval, res in results.items():
        for name, s in res["speed"].items():
            row = {"interval": interval, "tool": name, "median_s": round(s["median_s"], 3)}
            row["candles_per_s"] = round(s["candles_per_s"])
            row["ratio_vs_ours"] = None if s["ratio_vs_ours"] is None else round(s["ratio_vs_ours"], 2)
            a = res.get("agreement", {}).get(name)
            if a:
                row["trades_ours_theirs"] = f"{a['trades_ours']}/{a['trades_theirs']}"
                row["matched"] = a["matched"]
                row["mismatch_causes"] = a["mismatch_causes"]
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", choices=("1d", "1h", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--symbols", nargs="*", help="default: all symbols of the data folder")
    parser.add_argument("--tools", nargs="*", choices=list(TOOLS), default=list(TOOLS))
    parser.add_argument("--no-agreement", action="store_true", help="speed only")
    args = parser.parse_args()
    t0 = time.perf_counter()
    intervals = ["1d", "1h"] if args.interval == "both" else [args.interval]
    skipped = {name: why for name in args.tools if (why := tool_available(TOOLS[name]))}
    tools = [TOOLS[n] for n in args.tools if n not in skipped]
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="backtest-compare-") as tmp:
        for interval in intervals:
            symbols = args.symbols or all_symbols(interval)
            results[interval] = bench_interval(
                interval, symbols, bool(args.symbols), tools, args.repeats, not args.no_agreement, Path(tmp)
            )
    for interval, res in results.items():
        print_results(interval, res)
    total = time.perf_counter() - t0
    path = write_result(
        "backtest_compare",
        {
            "summary": summary(results),
            "repeats": args.repeats,
            "versions": {t.name: version(t) for t in tools},
            "skipped": skipped,
            "intervals": results,
            "mismatch_cause_notes": CAUSES,
            "notes": {
                "timing": "whole OS process per tool and run (interpreter start-up, imports, CSV loading, backtest, "
                "writing trades), all requested symbols in one process; median of the repeats, run in rotating order",
                "work": "ours is a portfolio run: one account across all symbols, the production sizer (value "
                "marked to market, max position / open-risk / open-positions caps), exchange-filter code, "
                "signals/equity/report.json/report.html outputs. The competitors run each symbol in isolation "
                "with its own account and write only trades",
                "agreement": "ours run once per symbol (isolated); the competitors' trades come from their timed "
                "runs. Matched = same entry and exit candle, entry and exit price within 1e-6 relative (or one "
                "1e-8 price unit, ours' price resolution: it rounds the stop price to 1e-8) and the same exit "
                "reason; quantities may differ by rounding (reported separately) and P&L sums are reported per side",
            },
            "script_s": round(total, 1),
        },
    )
    print(f"\nwritten {path} in {total:.0f} s")


if __name__ == "__main__":
    main()
