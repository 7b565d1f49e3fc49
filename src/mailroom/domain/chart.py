"""Layout of the per-minute delivery chart: pure geometry, drawn as SVG by a template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)
LABEL_STEPS = (5, 10, 15, 30, 60, 120, 240, 480)
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Frame:
    """The drawing area: the whole picture and the margins around the plot."""

    width: float = 960.0
    height: float = 240.0
    left: float = 44.0
    right: float = 8.0
    top: float = 10.0
    bottom: float = 26.0

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
    """One bar: a count of one series in one minute, with its rectangle."""

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
    y_max: int
    bars: list[Bar]
    x_labels: list[Label]
    y_labels: list[Label]
    totals: dict[str, int]


def floor_minute(moment: datetime) -> datetime:
    """The start of the minute the moment falls in."""
    return moment.replace(second=0, microsecond=0)


def minute_range(end: datetime, count: int) -> list[datetime]:
    """The ``count`` minutes ending with the one ``end`` falls in, oldest first."""
    last = floor_minute(end)
    return [last - MINUTE * (count - 1 - i) for i in range(count)]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (and at least 1)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def label_step(minutes: int) -> int:
    """Minutes between x-axis labels, so that at most a handful are drawn."""
    for step in LABEL_STEPS:
        if minutes / step <= MAX_X_LABELS:
            return step
    return LABEL_STEPS[-1]


def _bars(series: Sequence[tuple[str, Mapping[datetime, int]]], slots: list[datetime], y_max: int,
          frame: Frame) -> list[Bar]:
    """Side-by-side bars for every non-zero count, each series taking its share of a minute slot."""
    slot = frame.plot_width / len(slots)
    width = slot / len(series)
    bars = []
    for index, minute in enumerate(slots):
        for offset, (name, counts) in enumerate(series):
            count = counts.get(minute, 0)
            if count:
                height = frame.plot_height * count / y_max
                bars.append(Bar(name, minute, count, frame.left + index * slot + offset * width,
                                frame.baseline - height, width, height))
    return bars


def _x_labels(slots: list[datetime], frame: Frame) -> list[Label]:
    """Clock times under the plot at round minutes."""
    step = label_step(len(slots))
    slot = frame.plot_width / len(slots)
    return [Label(frame.left + i * slot, frame.height - 8, m.strftime("%H:%M"))
            for i, m in enumerate(slots) if (m.hour * 60 + m.minute) % step == 0]


def _y_labels(y_max: int, frame: Frame) -> list[Label]:
    """Zero, the middle and the top of the scale, left of the plot."""
    values = [0, y_max // 2, y_max] if y_max % 2 == 0 else [0, y_max]
    return [Label(frame.left - 6, frame.baseline - frame.plot_height * v / y_max + 4, str(v))
            for v in values]


def layout(series: Sequence[tuple[str, Mapping[datetime, int]]], end: datetime, minutes: int,
           frame: Frame | None = None) -> Chart:
    """Lay out per-minute counts of several series over the ``minutes`` minutes ending at ``end``."""
    frame = frame or Frame()
    slots = minute_range(end, minutes)
    inside = set(slots)
    totals = {name: sum(c for m, c in counts.items() if m in inside) for name, counts in series}
    peak = max((c for _, counts in series for m, c in counts.items() if m in inside), default=0)
    y_max = nice_ceiling(peak)
    return Chart(frame, slots[0], minutes, y_max, _bars(series, slots, y_max, frame),
                 _x_labels(slots, frame), _y_labels(y_max, frame), totals)
