"""Inline SVG line charts for the backtest HTML report: min/max downsampling, nice axes, UTC date labels.

Pure functions, standard library only. The SVG carries no xmlns (not needed inline in HTML5), so the page holds no URL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

MAX_CHART_POINTS = 1500
DAY_MS = 86_400_000


def downsample_min_max(
    time_ms: Sequence[int], values: Sequence[float], max_points: int = MAX_CHART_POINTS
) -> list[tuple[int, float]]:
    """Finite (time, value) pairs, at most `max_points` of them: each index bucket keeps its min and its max, in order.

    The global min and max always survive, so do spikes; series that already fit are returned whole.
    """
    pts = [(int(t), float(v)) for t, v in zip(time_ms, values, strict=False) if math.isfinite(float(v))]
    if len(pts) <= max_points:
        return pts
    buckets = max(1, max_points // 2)
    out: list[tuple[int, float]] = []
    n = len(pts)
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo >= hi:
            continue
        i_min = min(range(lo, hi), key=lambda i: pts[i][1])
        i_max = max(range(lo, hi), key=lambda i: pts[i][1])
        for i in sorted({i_min, i_max}):
            out.append(pts[i])
    return out


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about `target` of them); a flat range is widened first."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0):
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, target - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    count = round((last - first) / step)
    return [first + i * step for i in range(count + 1)]


def _date_label(t_ms: int, with_time: bool) -> str:
    dt = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def line_chart_svg(
    time_ms: Sequence[int],
    values: Sequence[float],
    *,
    title: str,
    y_format: Callable[[float], str],
    color: str = "#1f6feb",
    fill_to_top: bool = False,
    include_zero_top: bool = False,
    ref_value: float | None = None,
    max_points: int = MAX_CHART_POINTS,
    width: int = 1000,
    height: int = 300,
) -> str:
    """One `<svg>` line chart. `fill_to_top` shades between the line and the top axis (drawdown style);
    `include_zero_top` forces 0 into the y range; `ref_value` draws a dashed horizontal reference line."""
    left, right, top, bottom = 84, 16, 12, 34
    pw, ph = width - left - right, height - top - bottom
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    pts = downsample_min_max(time_ms, values, max_points)
    if not pts:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" class="muted">no data</text>'
        )
        return "".join(parts) + "</svg>"
    ys = [v for _, v in pts]
    lo, hi = min(ys), max(ys)
    if include_zero_top:
        hi = max(hi, 0.0)
    if ref_value is not None and math.isfinite(ref_value):
        lo, hi = min(lo, ref_value), max(hi, ref_value)
    ticks = nice_ticks(lo, hi)
    y0, y1 = ticks[0], ticks[-1]
    t0, t1 = pts[0][0], pts[-1][0]

    def sx(t: int) -> float:
        return left + (pw / 2 if t1 == t0 else (t - t0) / (t1 - t0) * pw)

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * ph

    for tv in ticks:
        y = sy(tv)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(y_format(tv))}</text>')
    with_time = t1 - t0 < 3 * DAY_MS
    x_ticks = [t0] if t1 == t0 else [t0 + (t1 - t0) * i // 5 for i in range(6)]
    for i, tx in enumerate(x_ticks):
        x = sx(tx)
        anchor = (
            "middle" if len(x_ticks) == 1 else ("start" if i == 0 else "end" if i == len(x_ticks) - 1 else "middle")
        )
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" class="grid"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + ph + 20}" text-anchor="{anchor}">{escape(_date_label(tx, with_time))}</text>'
        )
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    if ref_value is not None and math.isfinite(ref_value):
        y = sy(ref_value)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="ref"/>')
    coords = " ".join(f"{sx(t):.1f},{sy(v):.1f}" for t, v in pts)
    if len(pts) == 1:
        x, y = sx(pts[0][0]), sy(pts[0][1])
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
    elif fill_to_top:
        ytop = sy(0.0) if include_zero_top else top
        first_x, last_x = sx(pts[0][0]), sx(pts[-1][0])
        parts.append(
            f'<path d="M{first_x:.1f},{ytop:.1f} L{coords} L{last_x:.1f},{ytop:.1f} Z" '
            f'fill="{color}" fill-opacity="0.25" stroke="none"/>'
        )
    if len(pts) > 1:
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.4"/>')
    parts.append("</svg>")
    return "".join(parts)
