"""The dashboard chart's geometry: scale, minute slots, bars and labels (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailroom.domain.chart import (
    Frame,
    bucketed,
    choose_bucket,
    clamp_width,
    label_step,
    layout,
    minute_range,
    nice_ceiling,
    y_step,
)

END = datetime(2026, 3, 2, 9, 0, 42, tzinfo=UTC)


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (2, 2), (3, 5), (5, 5), (6, 10),
                                                (11, 20), (99, 100), (101, 200), (4500, 5000)])
def test_the_scale_tops_out_at_a_round_number(value: int, ceiling: int) -> None:
    assert nice_ceiling(value) == ceiling


def test_minutes_end_with_the_current_one_oldest_first() -> None:
    slots = minute_range(END, 3)
    assert [m.strftime("%H:%M:%S") for m in slots] == ["08:58:00", "08:59:00", "09:00:00"]


@pytest.mark.parametrize(("minutes", "width", "step"), [(60, 896, 5), (60, 296, 15), (180, 896, 15),
                                                        (1440, 896, 120), (1440, 1856, 60)])
def test_x_labels_never_crowd(minutes: int, width: float, step: int) -> None:
    assert label_step(minutes, width) == step


@pytest.mark.parametrize(("minutes", "width", "bucket"), [(60, 900, 1), (60, 300, 5), (180, 900, 5),
                                                          (180, 1856, 1), (1440, 900, 15), (1440, 300, 30),
                                                          (1440, 1856, 5), (1440, 100, 60)])
def test_buckets_widen_until_every_bar_has_room(minutes: int, width: float, bucket: int) -> None:
    assert choose_bucket(minutes, width) == bucket


@pytest.mark.parametrize(("y_max", "step"), [(1, 1), (5, 1), (10, 2), (20, 5), (50, 10), (100, 20),
                                             (200, 50), (5000, 1000)])
def test_y_ticks_are_round_and_few(y_max: int, step: int) -> None:
    assert y_step(y_max) == step
    assert y_max % step == 0


def test_counts_add_up_into_hour_aligned_buckets() -> None:
    minute = END.replace(second=0)
    counts = {minute: 1, minute - timedelta(minutes=4): 2, minute - timedelta(minutes=16): 5}
    assert bucketed(counts, 15) == {minute: 1, minute.replace(hour=8, minute=45): 2,
                                    minute.replace(hour=8, minute=30): 5}
    assert minute_range(END, 3, 15)[-1] == minute.replace(minute=0)
    assert (clamp_width(None), clamp_width(10), clamp_width(99999), clamp_width(700)) == (960, 320, 1920, 700)


def test_bars_are_proportional_and_placed_in_their_minute() -> None:
    frame = Frame(width=100, height=70, left=10, right=0, top=0, bottom=20)
    minute = END.replace(second=0)
    sent = {minute: 4, minute - timedelta(minutes=1): 1, minute - timedelta(minutes=9): 7}
    failed = {minute: 2}
    chart = layout([("sent", sent), ("failed", failed)], END, 3, frame)
    assert chart.y_max == 5
    assert chart.totals == {"sent": 5, "failed": 2}
    bars = {(b.series, b.minute.strftime("%H:%M")): b for b in chart.bars}
    assert sorted(bars) == [("failed", "09:00"), ("sent", "08:59"), ("sent", "09:00")]
    slot = 90 / 3
    assert (bars["sent", "09:00"].x, bars["sent", "09:00"].width) == (10 + 2 * slot, slot / 2)
    assert bars["failed", "09:00"].x == 10 + 2 * slot + slot / 2
    assert bars["sent", "09:00"].height == pytest.approx(50 * 4 / 5)
    assert bars["sent", "09:00"].y + bars["sent", "09:00"].height == pytest.approx(50)
    assert [label.text for label in chart.y_labels] == ["0", "1", "2", "3", "4", "5"]


def test_an_empty_chart_has_no_bars_and_a_unit_scale() -> None:
    chart = layout([("sent", {}), ("failed", {})], END, 60)
    assert chart.bars == []
    assert chart.y_max == 1
    assert chart.totals == {"sent": 0, "failed": 0}
    assert chart.bucket == 1
    assert [label.text for label in chart.x_labels][:2] == ["08:05", "08:10"]


def test_clock_times_are_the_readers_at_round_times_of_their_zone() -> None:
    taipei = layout([("sent", {}), ("failed", {})], END, 60, zone=ZoneInfo("Asia/Taipei"))
    assert [label.text for label in taipei.x_labels][:2] == ["16:05", "16:10"]
    three_hours = Frame(width=400)
    kolkata = layout([("sent", {}), ("failed", {})], END, 180, three_hours, zone=ZoneInfo("Asia/Kolkata"))
    texts = [label.text for label in kolkata.x_labels]
    assert texts
    assert all(text.endswith(":00") or text.endswith(":30") for text in texts), texts
