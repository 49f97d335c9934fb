"""ISO 8601 durations as the API, the settings and the scenario files spell them.

Only the day and time designators (``PnDTnHnMnS``) are accepted: years, months and weeks
have no fixed length, and a run's deadline must be exact. Only the seconds may carry a
fraction, as in ``PT0.5S``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PATTERN = re.compile(
    r"P(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_EXAMPLES = "PT8H, PT15M, P1DT2H or PT0.5S"


def parse_duration(text: str, field: str) -> timedelta:
    """Parse ``text``; the ``ValueError`` names ``field`` so a user knows what to fix."""
    problem = (
        f"{field}: {text!r} is not an ISO 8601 duration (use the PnDTnHnMnS form, e.g. {_EXAMPLES})"
    )
    match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ValueError(problem)
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{field}: {text!r} is too long a duration") from None


def format_duration(value: timedelta) -> str:
    """Canonical ISO text (``PT8H``, ``P1DT2H30M``), so the same duration always reads the same."""
    if value < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {value}")
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = "P" + (f"{value.days}D" if value.days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or value.microseconds:
        time += f"{seconds}.{value.microseconds:06d}".rstrip("0").rstrip(".") + "S"
    if time:
        text += "T" + time
    return text if text != "P" else "PT0S"


@dataclass(frozen=True)
class DurationRange:
    """Inclusive bounds shared by the settings and the run request, so both say the same."""

    low: timedelta
    high: timedelta

    def __contains__(self, value: object) -> bool:
        return isinstance(value, timedelta) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"between {format_duration(self.low)} and {format_duration(self.high)}"
