"""Small inline SVG charts (no script, no external file): a line over time, bars by name, and
the model lineage as a graph. Server-side SVG keeps pages printable and self-contained."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

W, H, PAD = 560, 180, 34


SERIES = ("#1f5fa8", "#2e8b57", "#c07a1a", "#8e44ad")


def line(series: dict[str, Sequence[tuple[float, float]]], y_max: float, label: str, y_fmt: str = "{:.2f}") -> str:
    """Polylines of (x, y) points, one per named series (legend below); x scaled to the width,
    y from 0 to ``y_max``."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return '<p class="muted">no data yet</p>'
    xs = [p[0] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (W - 2 * PAD)

    def sy(y: float) -> float:
        return H - PAD + 10 - (y / y_max if y_max else 0) * (H - 2 * PAD)

    out = [f'<svg class="chart" viewBox="0 0 {W} {H + 16}" role="img" aria-label="{escape(label)}">',
           f'<line x1="{PAD}" y1="{H - PAD + 10}" x2="{W - PAD}" y2="{H - PAD + 10}" class="axis"/>',
           f'<text x="4" y="{sy(y_max) + 4:.0f}" class="tick">{escape(y_fmt.format(y_max))}</text>',
           f'<text x="4" y="{H - PAD + 14}" class="tick">0</text>',
           f'<text x="{PAD}" y="14" class="title">{escape(label)}</text>']  # fmt: skip
    for i, (name, pts) in enumerate(series.items()):
        color = SERIES[i % len(SERIES)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(f'<rect x="{PAD + i * 120}" y="{H + 2}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{PAD + 14 + i * 120}" y="{H + 11}" class="tick">{escape(name)}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def bars(values: Sequence[tuple[str, float]], label: str, limit: float | None = None, fmt: str = "{:.2f}") -> str:
    """Horizontal bars, one per name; ``limit`` draws a budget line."""
    if not values:
        return '<p class="muted">no data yet</p>'
    top = max([v for _, v in values] + ([limit] if limit else []) + [1e-9])
    row, left = 22, 150
    height = 24 + row * len(values)
    out = [f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(label)}">',
           f'<text x="4" y="14" class="title">{escape(label)}</text>']  # fmt: skip
    for i, (name, v) in enumerate(values):
        y = 22 + i * row
        width = v / top * (W - left - 70)
        value = escape(fmt.format(v))
        out.append(f'<text x="4" y="{y + 13}" class="tick">{escape(name[:22])}</text>'
                   f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{row - 6}" class="bar"/>'
                   f'<text x="{left + width + 4:.1f}" y="{y + 13}" class="tick">{value}</text>')  # fmt: skip
    if limit:
        x = left + limit / top * (W - left - 70)
        budget = escape(fmt.format(limit))
        out.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height}" class="limit"/>'
                   f'<text x="{x + 3:.1f}" y="{height - 2}" class="tick">budget {budget}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def lineage(versions: Sequence[dict[str, Any]], initial: str) -> str:
    """Model versions left to right (initial model, then each round's aggregate), each round's
    contributors above it; a node links to its model's certificate."""
    col, top = 150, 70
    width = 40 + col * (len(versions) + 1)
    contributors = max([len(v.get("contributors") or []) for v in versions] + [1])
    height = top + 60 + 18 * contributors
    out = [f'<svg class="lineage" viewBox="0 0 {width} {height}" role="img" aria-label="model lineage">']
    nodes = [("initial", initial, "")] + [
        (f"round {v['round']}", (v.get("model_out") or {}).get("hash") or "", v.get("state", "")) for v in versions
    ]
    for i, (name, digest, state) in enumerate(nodes):
        x = 20 + i * col
        if i:
            out.append(f'<line x1="{x - col + 110}" y1="{top + 20}" x2="{x}" y2="{top + 20}" class="edge"/>')
        box = (f'<rect x="{x}" y="{top}" width="110" height="40" rx="6" class="node {escape(state.lower())}"/>'
               f'<text x="{x + 8}" y="{top + 17}" class="label">{escape(name)}</text>'
               f'<text x="{x + 8}" y="{top + 33}" class="hash">{escape(digest[:12])}</text>')  # fmt: skip
        out.append(f'<a href="/certificate/{escape(digest)}.html">{box}</a>' if digest else box)
        if i:
            v = versions[i - 1]
            audits = v.get("audits") or {}
            for j, m in enumerate(v.get("contributors") or []):
                mark = {"verified": " ✓", "failed": " ✗"}.get(audits.get(m, ""), "")
                out.append(f'<text x="{x}" y="{top + 58 + 18 * j}" class="who">{escape(m)}{mark}</text>')
            out.append(f'<text x="{x}" y="{top - 8}" class="mode">{escape(v.get("aggregation", ""))}</text>')
    out.append("</svg>")
    return "".join(out)
