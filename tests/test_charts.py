"""The pipeline chart as a pure function: PNG bytes whose bars are where the numbers say.

The picture is read back with matplotlib's PNG reader and the bars are measured by their
colour, so a chart that silently drew nothing (or the wrong heights) fails here.
"""

from __future__ import annotations

import io
import struct
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import numpy as np
import pytest
from matplotlib import colors
from matplotlib import image as mpimg

from bot.blocks.pipeline import text_bars
from bot.charts import (
    PNG_SIGNATURE,
    TOTAL_COLOUR,
    WEIGHTED_COLOUR,
    StageBar,
    compact_amount,
    pipeline_chart,
)
from crm.analytics import PipelineSummary, StageTotals

STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")


def bars(*pairs: tuple[str, str]) -> list[StageBar]:
    return [
        StageBar(label, Decimal(total), Decimal(weighted))
        for label, (total, weighted) in zip(STAGES, pairs, strict=False)
    ]


def size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def colour_mask(png: bytes, colour: str) -> np.ndarray:
    pixels = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    return np.all(np.abs(pixels - np.array(colors.to_rgb(colour))) < 0.02, axis=-1)


def runs(mask: np.ndarray) -> np.ndarray:
    """Per pixel column, the longest vertical run of the colour: a bar is one tall run, the
    legend's patch of the same colour a short one."""
    best = np.zeros(mask.shape[1], dtype=int)
    current = np.zeros(mask.shape[1], dtype=int)
    for row in mask:
        current = np.where(row, current + 1, 0)
        best = np.maximum(best, current)
    return best


def bar_height(png: bytes, colour: str) -> int:
    return int(runs(colour_mask(png, colour)).max())


def test_a_png_of_the_right_size_with_both_bars_in_proportion() -> None:
    png = pipeline_chart(bars(("100000", "50000")), currency="ZMW", title="Team pipeline")
    assert size(png) == (800, 450)
    total, weighted = bar_height(png, TOTAL_COLOUR), bar_height(png, WEIGHTED_COLOUR)
    assert total > 200  # the tallest bar spans most of the plot
    assert weighted / total == pytest.approx(0.5, abs=0.02)


def test_each_stage_gets_its_own_bars_scaled_to_the_largest() -> None:
    png = pipeline_chart(
        bars(("100000", "10000"), ("40000", "10000"), ("0", "0"), ("80000", "60000")),
        currency="ZMW",
        title="t",
    )
    heights = runs(colour_mask(png, TOTAL_COLOUR))
    heights[heights < 20] = 0  # the legend's patch
    columns = np.flatnonzero(heights)
    # three separate runs of blue columns (the empty stage draws none), heights 100 : 40 : 80
    groups = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
    tallest = [int(heights[group].max()) for group in groups]
    assert len(tallest) == 3
    assert [t / tallest[0] for t in tallest] == pytest.approx([1.0, 0.4, 0.8], abs=0.02)


def test_an_empty_pipeline_still_draws_axes_and_no_bars() -> None:
    png = pipeline_chart(bars(("0", "0"), ("0", "0")), currency="USD", title="Nothing")
    assert size(png) == (800, 450)
    assert not colour_mask(png, TOTAL_COLOUR).any()
    assert not colour_mask(png, WEIGHTED_COLOUR).any()
    assert pipeline_chart([], currency="ZMW", title="No stages").startswith(PNG_SIGNATURE)


def test_the_same_numbers_give_the_same_bytes_from_many_threads_at_once() -> None:
    """Charts are drawn on the web process's handler threads: the object API keeps them apart
    (pyplot's global state would not), and without a timestamp the output is reproducible."""
    data = bars(("123456.78", "30864.20"), ("99999", "24999.75"))
    serial = pipeline_chart(data, currency="ZMW", title="Same")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: pipeline_chart(data, currency="ZMW", title="Same"), range(4))
        )
    assert all(r == serial for r in results)
    other = pipeline_chart(bars(("123456.78", "30000")), currency="ZMW", title="Same")
    assert other != serial


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (950, "950"),
        (50_000, "50k"),
        (12_500, "12.5k"),
        (1_250_000, "1.25M"),
        (Decimal("2000000000"), "2B"),
        (-40_000, "-40k"),
    ],
)
def test_axis_amounts_are_compact(value: float | Decimal, shown: str) -> None:
    assert compact_amount(value) == shown


def test_the_text_chart_scales_bars_to_the_largest_stage() -> None:
    summary = PipelineSummary(
        member_id=None,
        period_days=None,
        stages=(
            StageTotals("prospecting", 1, Decimal("100000.00"), Decimal("10000")),
            StageTotals("qualification", 0, Decimal("0.00"), Decimal("0")),
            StageTotals("proposal", 2, Decimal("50000.00"), Decimal("25000")),
            StageTotals("negotiation", 1, Decimal("20000.00"), Decimal("15000")),
        ),
        count=4,
        amount=Decimal("170000.00"),
        weighted_amount=Decimal("50000"),
    )
    rows = text_bars(summary).strip("`\n").splitlines()
    assert rows[0] == "Prospecting   " + "█" * 2 + "░" * 18
    assert rows[1] == "Qualification "
    assert rows[2] == "Proposal      " + "█" * 5 + "░" * 5
    assert rows[3] == "Negotiation   " + "█" * 3 + "░" * 1
