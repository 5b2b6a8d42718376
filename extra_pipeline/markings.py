"""Traffic Light Protocol 2.0 markings: parsing, ordering and propagation.

CLEAR < GREEN < AMBER < AMBER+STRICT < RED. A derived table takes the highest marking of
its inputs; anything without a marking is treated as RED, so an omission can only ever
over-protect.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Marking(IntEnum):
    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        """The TLP spelling, e.g. `TLP:AMBER+STRICT`."""
        return "TLP:" + self.name.replace("_", "+")

    @property
    def slug(self) -> str:
        """The file-name form, e.g. `amber+strict`."""
        return self.name.replace("_", "+").lower()

    @property
    def colour(self) -> str:
        """The TLP 2.0 colour of the label, shown on black: white, green, amber, red."""
        return _COLOURS[self]

    def __str__(self) -> str:
        return self.label


_COLOURS = {
    Marking.CLEAR: "#ffffff",
    Marking.GREEN: "#33ff00",
    Marking.AMBER: "#ffc000",
    Marking.AMBER_STRICT: "#ffc000",
    Marking.RED: "#ff2b2b",
}


class MarkingError(ValueError):
    """A text that is not a TLP marking."""


def parse_marking(value: object, *, missing: Marking = Marking.RED) -> Marking:
    """Parse `amber`, `TLP:AMBER`, `tlp:amber+strict`, `AMBER_STRICT`...; None means `missing`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return missing
    if isinstance(value, Marking):
        return value
    text = str(value).strip().upper()
    text = text.removeprefix("TLP:").removeprefix("TLP ").strip()
    text = text.replace("+", "_").replace("-", "_").replace(" ", "_")
    if text == "WHITE":  # TLP 1.0 name for CLEAR
        text = "CLEAR"
    try:
        return Marking[text]
    except KeyError:
        valid = ", ".join(m.slug for m in Marking)
        raise MarkingError(f"{value!r} is not a TLP marking (use one of: {valid})") from None


def highest(markings: Iterable[Marking | str | None]) -> Marking:
    """The marking of something derived from all of `markings` (CLEAR if there are none)."""
    return max((parse_marking(m) for m in markings), default=Marking.CLEAR)


def levels_up_to(level: Marking) -> list[Marking]:
    """Every marking an audience cleared for `level` may read."""
    return [m for m in Marking if m <= level]
