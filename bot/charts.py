"""The pipeline chart (SPEC 7): stage totals and weighted amounts as grouped bars, as PNG bytes.

A pure function of its numbers: no Slack, no database, so it is tested on its own and the
handler only decides where the bytes go. Drawn with matplotlib's object API (``Figure`` and
the Agg canvas), never ``pyplot``: pyplot keeps global state that is not thread-safe, and
charts are drawn on the web process's handler threads. Nothing here needs a display.

Importing this module imports matplotlib (a few hundred milliseconds), so callers import it
when the first chart is drawn rather than when the web process starts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

__all__ = ["PNG_SIGNATURE", "StageBar", "calibration_chart", "compact_amount", "pipeline_chart"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 4.5, 100  # 800×450: readable in Slack's preview
TOTAL_COLOUR, WEIGHTED_COLOUR = "#4a6fa5", "#9ccc65"


@dataclass(frozen=True)
class StageBar:
    """One stage's pair of bars."""

    label: str
    total: Decimal
    weighted: Decimal


def compact_amount(value: float | Decimal) -> str:
    """``1250000`` -> ``1.25M``, ``50000`` -> ``50k``: axis labels must stay short."""
    number = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            text = f"{number / size:.2f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{number:.0f}"


def pipeline_chart(bars: Sequence[StageBar], *, currency: str, title: str) -> bytes:
    """The PNG of ``bars`` (in pipeline order). An empty pipeline still draws its axes, so
    a member sees "nothing open" rather than a missing picture."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    positions = list(range(len(bars)))
    width = 0.38
    totals = [float(b.total) for b in bars]
    weighted = [float(b.weighted) for b in bars]
    ax.bar([p - width / 2 for p in positions], totals, width, label="Total", color=TOTAL_COLOUR)
    ax.bar(
        [p + width / 2 for p in positions],
        weighted,
        width,
        label="Weighted",
        color=WEIGHTED_COLOUR,
    )
    for p, t, w in zip(positions, totals, weighted, strict=True):
        if t:
            ax.annotate(compact_amount(t), (p - width / 2, t), ha="center", va="bottom", fontsize=8)
        if w:
            ax.annotate(compact_amount(w), (p + width / 2, w), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, [b.label for b in bars])
    ax.set_ylabel(f"Amount ({currency})")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: compact_amount(v)))
    if not any(totals) and not any(weighted):
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, "No open deals", transform=ax.transAxes, ha="center", va="center")
    else:
        ax.set_ylim(0, max(totals + weighted) * 1.15)
        ax.legend(loc="upper right")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def calibration_chart(
    points: Sequence[tuple[float, float, int]], *, title: str, brier: float, base_brier: float
) -> bytes:
    """The lead score's calibration (SPEC 13): per decile of predicted win chance, the mean
    prediction against the share actually won (marker size: leads), beside the diagonal a
    perfectly calibrated score would follow."""
    figure = Figure(figsize=(6.0, 5.0), dpi=DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.plot([0, 100], [0, 100], linestyle="--", color="#999999", label="perfect calibration")
    predicted = [p * 100 for p, _, _ in points]
    observed = [o * 100 for _, o, _ in points]
    sizes = [max(20, min(200, n * 2)) for _, _, n in points]
    ax.plot(predicted, observed, color=TOTAL_COLOUR, linewidth=1)
    ax.scatter(predicted, observed, s=sizes, color=TOTAL_COLOUR, label="deciles of score", zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Predicted chance of winning (%)")
    ax.set_ylabel("Leads actually won (%)")
    ax.set_title(title)
    ax.text(
        0.02, 0.95, f"Brier {brier:.3f} (base rate {base_brier:.3f})",
        transform=ax.transAxes, va="top", fontsize=9,
    )  # fmt: skip
    ax.legend(loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
