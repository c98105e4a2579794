"""Server-rendered, accessible SVG bar charts (no script, no CDN): a ``role="img"`` figure
with a title and a description, the figures themselves in a table next to it, and a width
that scales down to a 390 px screen (``viewBox`` and ``width="100%"``)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from markupsafe import escape

#: Colour-blind-safe palette (Okabe–Ito); each series also has its own label in the legend.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
WIDTH = 360
HEIGHT = 180
LEFT = 28
BOTTOM = 22
TOP = 8


@dataclass
class Chart:
    """Stacked bars: ``series`` name → one value per ``labels`` entry."""

    chart_id: str
    title: str
    labels: list[str]
    series: dict[str, list[int]]

    def total(self) -> int:
        return sum(sum(values) for values in self.series.values())

    def svg(self, description: str) -> Markup:
        bars = len(self.labels) or 1
        heights = [sum(v[i] for v in self.series.values()) for i in range(len(self.labels))]
        peak = max(heights, default=0) or 1
        plot_w = WIDTH - LEFT - 4
        plot_h = HEIGHT - BOTTOM - TOP
        step = plot_w / bars
        bar_w = max(1.0, step * 0.8)
        parts = [
            f'<svg role="img" aria-labelledby="{self.chart_id}-t {self.chart_id}-d" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet" '
            f'class="chart" id="{self.chart_id}">',
            f'<title id="{self.chart_id}-t">{escape(self.title)}</title>',
            f'<desc id="{self.chart_id}-d">{escape(description)}</desc>',
            f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}" '
            'stroke="#555" stroke-width="1"/>',
            f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="9">{peak}</text>',
            f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="9">0</text>',
        ]
        for i in range(len(self.labels)):
            base: float = TOP + plot_h
            x = LEFT + i * step + (step - bar_w) / 2
            for index, (name, values) in enumerate(self.series.items()):
                value = values[i]
                if not value:
                    continue
                h = plot_h * value / peak
                base -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[index % len(PALETTE)]}" data-series="{escape(name)}">'
                    f"<title>{escape(self.labels[i])} — {escape(name)}: {value}</title></rect>"
                )
        # Three x labels, kept inside the drawing: first (left-aligned), middle, last (right).
        last = len(self.labels) - 1
        for i in sorted({0, len(self.labels) // 2, last}):
            if 0 <= i <= last:
                anchor, x = "middle", LEFT + i * step + step / 2
                if i == 0:
                    anchor, x = "start", LEFT
                elif i == last:
                    anchor, x = "end", WIDTH - 4
                parts.append(
                    f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="9">'
                    f"{escape(self.labels[i])}</text>"
                )
        parts.append("</svg>")
        # Every text part above went through escape(); the rest are numbers and constants.
        return Markup("".join(parts))  # noqa: S704

    def legend(self) -> list[tuple[str, str, int]]:
        return [
            (PALETTE[i % len(PALETTE)], name, sum(values))
            for i, (name, values) in enumerate(self.series.items())
        ]

    def rows(self) -> list[list]:
        """The figures: one row per bucket, one column per series."""
        return [
            [label, *(values[i] for values in self.series.values())]
            for i, label in enumerate(self.labels)
        ]
