"""Bar charts drawn on the server as inline SVG: no script and no request leave the page, the
colours are the admin's CSS variables (so light and dark mode both read), and every bar carries
its number as a <title> (a tooltip, read by screen readers) and as a label."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from clients.selectors.dashboard import Bar


def column_chart(bars: Sequence[Bar], *, title: str, label_every: int = 1, width: int = 620, height: int = 200) -> SafeString:
    """Vertical bars left to right (days, months); every `label_every`-th bar is named below."""
    top, bottom, left, right = 18, 34, 4, 16
    plot = height - top - bottom
    peak = max((bar.value for bar in bars), default=0) or 1
    slot = (width - left - right) / max(len(bars), 1)
    parts = []
    for index, bar in enumerate(bars):
        bar_height = round(plot * bar.value / peak, 1)
        x = round(left + index * slot + slot * 0.12, 1)
        y = round(top + plot - bar_height, 1)
        middle = round(x + slot * 0.38, 1)
        parts.append(
            format_html(
                '<g class="ltp-bar"><title>{}: {}</title><rect x="{}" y="{}" width="{}" height="{}"></rect>'
                '<text class="ltp-value" x="{}" y="{}">{}</text>{}</g>',
                bar.label,
                bar.value,
                x,
                y,
                round(slot * 0.76, 1),
                max(bar_height, 0.5),
                middle,
                round(y - 4, 1),
                bar.value if bar.value else "",
                format_html('<text class="ltp-axis" x="{}" y="{}">{}</text>', middle, height - bottom + 16, short_label(bar.label))
                if index % label_every == 0 or index == len(bars) - 1
                else "",
            )  # fmt: skip
        )
    return svg(title, width, height, parts)


def row_chart(bars: Sequence[Bar], *, title: str, width: int = 620, row: int = 26) -> SafeString:
    """Horizontal bars top to bottom (demos by name), the name left and the number right of each bar."""
    name_width, number_width = 190, 60
    height = row * max(len(bars), 1) + 8
    peak = max((bar.value for bar in bars), default=0) or 1
    span = width - name_width - number_width
    parts = []
    for index, bar in enumerate(bars):
        y = 4 + index * row
        bar_width = round(span * bar.value / peak, 1)
        parts.append(
            format_html(
                '<g class="ltp-bar"><title>{}: {}</title><text class="ltp-name" x="{}" y="{}">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}"></rect><text class="ltp-number" x="{}" y="{}">{}</text></g>',
                bar.label,
                bar.value,
                name_width - 8,
                y + row * 0.62,
                bar.label,
                name_width,
                y + 3,
                max(bar_width, 0.5),
                row - 8,
                name_width + bar_width + 6,
                y + row * 0.62,
                bar.value,
            )  # fmt: skip
        )
    return svg(title, width, height, parts)


def short_label(label: str) -> str:
    """'2026-12-01' is shown as '12-01' under its bar, '2026-12' as it is."""
    return label[5:] if len(label) == 10 else label


def svg(title: str, width: int, height: int, parts: list[SafeString]) -> SafeString:
    return format_html(
        '<svg class="ltp-chart" role="img" viewBox="0 0 {} {}" preserveAspectRatio="xMinYMin meet"><title>{}</title>{}</svg>',
        width, height, title, format_html_join("", "{}", ((part,) for part in parts)),
    )  # fmt: skip
