"""Values shared by the ecosystem adapters: colour names, percent scaling, numbers."""

from __future__ import annotations

import math
from typing import TypeGuard

from edge_agent.devices.adapter import DeviceCommand, RenderError

COLOR_NAMES: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "white": (255, 255, 255),
    "warm white": (255, 180, 107),  # about 2700 K, what bulbs sold as "warm white" give
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "pink": (255, 105, 180),  # hot pink: CSS "pink" washes out to white on most bulbs
    "cyan": (0, 255, 255),
}
COLOR_OPTIONS: list[str] = list(COLOR_NAMES)

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                "seventeen", "eighteen", "nineteen")  # fmt: skip
"""0 to 19 as words, each at its own index."""


def color_rgb(value: float | str | None) -> tuple[int, int, int]:
    """The RGB of a colour name from :data:`COLOR_NAMES` or of ``#rrggbb``."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in COLOR_NAMES:
            return COLOR_NAMES[word]
        if len(word) == 7 and word.startswith("#"):
            try:
                return (int(word[1:3], 16), int(word[3:5], 16), int(word[5:7], 16))
            except ValueError:
                pass
    raise RenderError(f"unknown colour {value!r}")


def command_number(command: DeviceCommand) -> float:
    """The number a value action carries."""
    value = command.value
    if isinstance(value, bool) or value is None:
        raise RenderError(f"{command.action} needs a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise RenderError(f"{command.action} needs a number, got {value!r}") from None


def half_up(value: float) -> int:
    """``value`` rounded half up: 2.5 -> 3, where ``round`` gives 2 (people expect 15 on a
    step of 2 from 10 to give 16, not 14)."""
    return math.floor(value + 0.5)


def to_percent(raw: float, low: float, high: float) -> int:
    """``raw`` in ``low..high`` as a whole percent."""
    return round((min(high, max(low, raw)) - low) / (high - low) * 100)


def from_percent(percent: float, low: float, high: float) -> float:
    """The native value for ``percent`` of ``low..high``."""
    return low + (high - low) * min(100.0, max(0.0, percent)) / 100


def kelvin_mired(value: float) -> float:
    """Kelvin to mired and back (the same formula both ways)."""
    return 1_000_000 / value


def is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number (JSON booleans are Python ints, and are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
