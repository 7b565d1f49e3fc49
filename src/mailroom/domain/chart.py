"""Layout of the delivery chart: pure geometry, drawn as SVG by a template.

The chart is laid out for the pixel width it will be shown at, so text keeps its size on a phone and
on a wide screen; buckets widen (1, 5, 15, 30, 60 minutes) until every bar is wide enough to see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

MINUTE = timedelta(minutes=1)
BUCKETS = (1, 5, 15, 30, 60)
# A bucket holds one bar per series side by side: at least this many pixels for the pair.
MIN_SLOT_PX = 6.0
LABEL_STEPS = (5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720)
# Room for one clock time under the axis ("08:30" at 12 px, with a gap).
LABEL_PX = 56.0
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 320, 1920, 960
MAX_Y_TICKS = 5


@dataclass(frozen=True)
class Frame:
    """The drawing area in pixels: the whole picture and the margins around the plot."""

    width: float = float(DEFAULT_WIDTH)
    height: float = 260.0
    left: float = 56.0
    right: float = 8.0
    top: float = 10.0
    bottom: float = 44.0

    @property
    def plot_width(self) -> float:
        """Width of the plotted area."""
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        """Height of the plotted area."""
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        """The y coordinate of zero."""
        return self.top + self.plot_height


@dataclass(frozen=True)
class Bar:
    """One bar: a count of one series in one bucket, with its rectangle."""

    series: str
    minute: datetime
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Label:
    """A piece of axis text at a position."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw the chart."""

    frame: Frame
    start: datetime
    minutes: int
    bucket: int
    y_max: int
    bars: list[Bar]
    x_labels: list[Label]
    y_labels: list[Label]
    totals: dict[str, int]


def clamp_width(width: int | None) -> int:
    """The pixel width to lay out for: what the browser measured, within sane bounds."""
    return DEFAULT_WIDTH if width is None else max(MIN_WIDTH, min(MAX_WIDTH, width))


def floor_minute(moment: datetime) -> datetime:
    """The start of the minute the moment falls in."""
    return moment.replace(second=0, microsecond=0)


def floor_bucket(moment: datetime, bucket: int) -> datetime:
    """The start of the ``bucket``-minute slot (aligned to the hour) the moment falls in."""
    start = floor_minute(moment)
    return start - MINUTE * ((start.hour * 60 + start.minute) % bucket)


def minute_range(end: datetime, count: int, bucket: int = 1) -> list[datetime]:
    """The starts of the ``count`` buckets ending with the one ``end`` falls in, oldest first."""
    last = floor_bucket(end, bucket)
    return [last - MINUTE * bucket * (count - 1 - i) for i in range(count)]


def choose_bucket(minutes: int, plot_width: float) -> int:
    """The narrowest bucket whose bars all get at least MIN_SLOT_PX pixels."""
    for bucket in BUCKETS:
        if -(-minutes // bucket) * MIN_SLOT_PX <= plot_width:
            return bucket
    return BUCKETS[-1]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (and at least 1)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def y_step(y_max: int) -> int:
    """The round step between y-axis ticks: at most MAX_Y_TICKS steps up to the top."""
    step = 1
    while y_max / step > MAX_Y_TICKS:
        step = nice_ceiling(step + 1)
    return step


def label_step(minutes: int, plot_width: float = Frame().plot_width) -> int:
    """Minutes between x-axis labels, so that the labels never crowd each other."""
    for step in LABEL_STEPS:
        if minutes / step * LABEL_PX <= plot_width:
            return step
    return LABEL_STEPS[-1]


def bucketed(counts: Mapping[datetime, int], bucket: int) -> dict[datetime, int]:
    """Per-minute counts summed into buckets."""
    summed: dict[datetime, int] = {}
    for minute, count in counts.items():
        start = floor_bucket(minute, bucket)
        summed[start] = summed.get(start, 0) + count
    return summed


def _bars(series: Sequence[tuple[str, Mapping[datetime, int]]], slots: list[datetime], y_max: int,
          frame: Frame) -> list[Bar]:
    """Side-by-side bars for every non-zero count, each series taking its share of a slot."""
    slot = frame.plot_width / len(slots)
    width = slot / len(series)
    bars = []
    for index, start in enumerate(slots):
        for offset, (name, counts) in enumerate(series):
            count = counts.get(start, 0)
            if count:
                height = frame.plot_height * count / y_max
                bars.append(Bar(name, start, count, frame.left + index * slot + offset * width,
                                frame.baseline - height, width, height))
    return bars


def _x_labels(slots: list[datetime], bucket: int, frame: Frame, zone: tzinfo) -> list[Label]:
    """Clock times in ``zone`` under the plot at round times there, spaced so they never overlap."""
    step = max(bucket, label_step(len(slots) * bucket, frame.plot_width))
    slot = frame.plot_width / len(slots)
    local = [m.replace(tzinfo=m.tzinfo or UTC).astimezone(zone) for m in slots]
    return [Label(frame.left + i * slot, frame.baseline + 18, m.strftime("%H:%M"))
            for i, m in enumerate(local) if (m.hour * 60 + m.minute) % step == 0]


def _y_labels(y_max: int, frame: Frame) -> list[Label]:
    """Round ticks from zero to the top of the scale, left of the plot."""
    step = y_step(y_max)
    return [Label(frame.left - 6, frame.baseline - frame.plot_height * v / y_max + 4, str(v))
            for v in range(0, y_max + 1, step)]


def layout(series: Sequence[tuple[str, Mapping[datetime, int]]], end: datetime, minutes: int,
           frame: Frame | None = None, bucket: int | None = None, zone: tzinfo = UTC) -> Chart:
    """Lay out per-minute counts of several series over the ``minutes`` minutes ending at ``end``,
    in buckets chosen for the frame's width unless ``bucket`` is given, labelled in ``zone``'s time."""
    frame = frame or Frame()
    bucket = bucket or choose_bucket(minutes, frame.plot_width)
    slots = minute_range(end, -(-minutes // bucket), bucket)
    inside = set(slots)
    summed = [(name, {m: c for m, c in bucketed(counts, bucket).items() if m in inside})
              for name, counts in series]
    totals = {name: sum(counts.values()) for name, counts in summed}
    y_max = nice_ceiling(max((c for _, counts in summed for c in counts.values()), default=0))
    return Chart(frame, slots[0], minutes, bucket, y_max, _bars(summed, slots, y_max, frame),
                 _x_labels(slots, bucket, frame, zone), _y_labels(y_max, frame), totals)
