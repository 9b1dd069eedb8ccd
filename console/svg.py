"""Server-side SVG: sparklines and the per-topic volume chart. Numbers only, labels escaped."""
from __future__ import annotations

from html import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def sparkline(values: list[int], width: int = 90, height: int = 22) -> str:
    top = max(values) if values and max(values) > 0 else 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))
    label = escape(", ".join(str(v) for v in values))
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="per day: {label}"><polyline fill="none" stroke="#1f3b57" stroke-width="1.5" '
            f'points="{points}"/></svg>')


def line_chart(series: dict[str, list[int]], labels: list[str], width: int = 900, height: int = 260) -> str:
    """One line per series over the same x labels (days), with a legend."""
    left, bottom, top_pad = 36, 24, 10
    n = max(len(labels), 2)
    top = max((max(v) for v in series.values() if v), default=0) or 1
    plot_w, plot_h = width - left - 160, height - bottom - top_pad

    def xy(i: int, v: int) -> str:
        return f"{left + i * plot_w / (n - 1):.1f},{top_pad + plot_h - v / top * plot_h:.1f}"

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="articles per topic per day">',
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#999"/>',
             f'<text x="2" y="{top_pad + 10}" font-size="11">{top}</text>',
             f'<text x="2" y="{top_pad + plot_h}" font-size="11">0</text>']
    for i, label in enumerate(labels):
        if i % 7 == 0:
            parts.append(f'<text x="{left + i * plot_w / (n - 1):.1f}" y="{height - 6}" font-size="10">'
                         f'{escape(label)}</text>')
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        pts = " ".join(xy(i, v) for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>')
        y = top_pad + 12 + k * 16
        parts.append(f'<rect x="{width - 150}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{width - 135}" y="{y}" font-size="11">{escape(name[:22])}</text>')
    parts.append("</svg>")
    return "".join(parts)
