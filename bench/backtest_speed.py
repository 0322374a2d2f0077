"""Backtester speed: the whole `binance-tool backtest` CLI process on the shared 1d and 1h sets (median of N runs),
candles per second, and an in-process breakdown (load / simulate / write).  Targets: 1d ≤ 0.6 s, 1h ≤ 1.4 s.

    .venv/bin/python -m bench.backtest_speed [--repeats 5] [--data ../shared/data/binance-spot]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import median, print_table, write_result

TARGET_S = {"1d": 0.6, "1h": 1.4}
CLI = Path(sys.executable).with_name("binance-tool")


def cli_seconds(candles_dir: Path, out: Path) -> float:
    cmd = [str(CLI), "backtest", "--candles-dir", str(candles_dir), "--out", str(out), "--no-progress"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def phases(candles_dir: Path, out: Path) -> dict[str, float]:
    from binance_tool.backtest import BacktestSettings, run_backtest
    from binance_tool.backtest.data import load_backtest_inputs
    from binance_tool.backtest.output import run_info, write_outputs

    t0 = time.perf_counter()
    inputs = load_backtest_inputs(candles_dir, None, None, "auto")
    t1 = time.perf_counter()
    result = run_backtest(inputs.series, inputs.filters, inputs.interval, BacktestSettings())
    t2 = time.perf_counter()
    write_outputs(result, out, run_info(result))
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "simulate_s": t2 - t1, "write_s": t3 - t2, "candles": result.candles,
            "signals": len(result.signals), "trades": len(result.trades)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/binance-spot")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bt-bench-"))
    results: dict[str, object] = {"repeats": args.repeats}
    rows = []
    try:
        for interval in ("1d", "1h"):
            candles_dir = args.data / interval
            cli_seconds(candles_dir, out)  # warm the page cache
            runs = [cli_seconds(candles_dir, out) for _ in range(args.repeats)]
            breakdown = [phases(candles_dir, out) for _ in range(3)]
            parts = {k: median([float(b[k]) for b in breakdown]) for k in ("load_s", "simulate_s", "write_s")}
            candles = int(breakdown[0]["candles"])
            wall = median(runs)
            results[interval] = {
                "cli_wall_s_median": round(wall, 3),
                "cli_wall_s_runs": [round(r, 3) for r in runs],
                "candles": candles,
                "candles_per_s": round(candles / wall),
                "signals": breakdown[0]["signals"],
                "trades": breakdown[0]["trades"],
                "in_process_median_s": {k: round(v, 3) for k, v in parts.items()},
                "target_s": TARGET_S[interval],
                "meets_target": wall <= TARGET_S[interval],
            }
            rows.append([interval, candles, wall, candles / wall, parts["load_s"], parts["simulate_s"],
                         parts["write_s"], TARGET_S[interval]])  # fmt: skip
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print_table(["set", "candles", "cli s (median)", "candles/s", "load s", "simulate s", "write s", "target s"], rows)
    print(f"wrote {write_result('backtest_speed', results)}")


if __name__ == "__main__":
    main()
