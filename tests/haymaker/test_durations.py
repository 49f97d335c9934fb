"""ISO 8601 durations: what users may type, and the one way HayMaker writes them back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from haymaker.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT8H", timedelta(hours=8)),
        ("PT15M", timedelta(minutes=15)),
        ("PT5M", timedelta(minutes=5)),
        ("PT90M", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1H30M15S", timedelta(hours=1, minutes=30, seconds=15)),
        ("PT0.5S", timedelta(milliseconds=500)),
    ],
)
def test_accepts_day_and_time_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "duration") == expected


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "P1DT", "8h", "pt8h", "PT8H ", "P1W", "P1M", "P1Y", "PT-5M", "PT.5S", "PT1.5H"],
)
def test_rejects_other_text_naming_field_value_and_an_example(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text, "poll_interval")
    message = str(caught.value)
    assert message.startswith("poll_interval: ")
    assert repr(text) in message
    assert "PT8H" in message


def test_rejects_a_value_that_is_not_text() -> None:
    with pytest.raises(ValueError, match="duration: 8 is not an ISO 8601 duration"):
        parse_duration(8, "duration")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=8), "PT8H"),
        (timedelta(minutes=15), "PT15M"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(days=1, hours=2, minutes=30), "P1DT2H30M"),
        (timedelta(days=2), "P2D"),
        (timedelta(seconds=75), "PT1M15S"),
        (timedelta(milliseconds=500), "PT0.5S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_formats_canonical_text_that_parses_back(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text, "duration") == value


def test_refuses_to_format_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(minutes=-1))
