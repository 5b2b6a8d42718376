"""TLP 2.0 markings: parsing every spelling people write, ordering, and propagation."""

from __future__ import annotations

from itertools import pairwise

import pytest

from extra_pipeline.markings import Marking, MarkingError, highest, levels_up_to, parse_marking


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clear", Marking.CLEAR),
        ("CLEAR", Marking.CLEAR),
        ("TLP:CLEAR", Marking.CLEAR),
        ("  tlp:clear  ", Marking.CLEAR),
        ("WHITE", Marking.CLEAR),  # TLP 1.0 spelling
        ("tlp:white", Marking.CLEAR),
        ("green", Marking.GREEN),
        ("TLP:GREEN", Marking.GREEN),
        ("amber", Marking.AMBER),
        ("TLP:AMBER", Marking.AMBER),
        ("tlp:amber+strict", Marking.AMBER_STRICT),
        ("TLP:AMBER+STRICT", Marking.AMBER_STRICT),
        ("AMBER_STRICT", Marking.AMBER_STRICT),
        ("amber strict", Marking.AMBER_STRICT),
        ("amber-strict", Marking.AMBER_STRICT),
        ("red", Marking.RED),
        ("TLP:RED", Marking.RED),
    ],
)
def test_parse_marking_accepts_common_spellings(text: str, expected: Marking) -> None:
    assert parse_marking(text) is expected


def test_parse_marking_passes_a_marking_through() -> None:
    for marking in Marking:
        assert parse_marking(marking) is marking


@pytest.mark.parametrize("text", ["purple", "amber+", "tlp:", "strict", "2"])
def test_parse_marking_rejects_unknown_text_listing_the_valid_ones(text: str) -> None:
    with pytest.raises(MarkingError) as caught:
        parse_marking(text)
    message = str(caught.value)
    assert repr(text) in message
    for slug in ("clear", "green", "amber", "amber+strict", "red"):
        assert slug in message


def test_marking_error_is_a_value_error() -> None:
    # callers that validate config catch ValueError
    with pytest.raises(ValueError, match="purple"):
        parse_marking("purple")


@pytest.mark.parametrize("missing_value", [None, "", "   "])
def test_missing_marking_is_red_by_default(missing_value: str | None) -> None:
    assert parse_marking(missing_value) is Marking.RED


def test_missing_marking_default_can_be_chosen() -> None:
    # drops default to AMBER
    assert parse_marking(None, missing=Marking.AMBER) is Marking.AMBER
    assert parse_marking("", missing=Marking.AMBER) is Marking.AMBER
    # an explicit marking wins over the default
    assert parse_marking("clear", missing=Marking.AMBER) is Marking.CLEAR


def test_ordering_is_clear_green_amber_amber_strict_red() -> None:
    order = [Marking.CLEAR, Marking.GREEN, Marking.AMBER, Marking.AMBER_STRICT, Marking.RED]
    assert list(Marking) == order
    assert sorted(reversed(order)) == order
    for lower, upper in pairwise(order):
        assert lower < upper
        assert not upper <= lower


def test_highest_of_nothing_is_clear() -> None:
    assert highest([]) is Marking.CLEAR


def test_highest_takes_the_strictest() -> None:
    assert highest([Marking.CLEAR, Marking.AMBER, Marking.GREEN]) is Marking.AMBER
    assert highest(["clear", "TLP:AMBER+STRICT", Marking.AMBER]) is Marking.AMBER_STRICT
    assert highest(iter(["green", "green"])) is Marking.GREEN


def test_highest_treats_a_missing_marking_as_red() -> None:
    assert highest([Marking.CLEAR, None]) is Marking.RED
    assert highest(["clear", ""]) is Marking.RED


def test_highest_rejects_unknown_text() -> None:
    with pytest.raises(MarkingError, match="purple"):
        highest(["clear", "purple"])


@pytest.mark.parametrize(
    ("marking", "label", "slug"),
    [
        (Marking.CLEAR, "TLP:CLEAR", "clear"),
        (Marking.GREEN, "TLP:GREEN", "green"),
        (Marking.AMBER, "TLP:AMBER", "amber"),
        (Marking.AMBER_STRICT, "TLP:AMBER+STRICT", "amber+strict"),
        (Marking.RED, "TLP:RED", "red"),
    ],
)
def test_label_and_slug_forms_round_trip(marking: Marking, label: str, slug: str) -> None:
    assert marking.label == label
    assert str(marking) == label
    assert f"{marking}" == label
    assert marking.slug == slug
    assert parse_marking(label) is marking
    assert parse_marking(slug) is marking


def test_levels_up_to() -> None:
    assert levels_up_to(Marking.CLEAR) == [Marking.CLEAR]
    assert levels_up_to(Marking.AMBER) == [Marking.CLEAR, Marking.GREEN, Marking.AMBER]
    assert levels_up_to(Marking.RED) == list(Marking)
    assert Marking.AMBER_STRICT not in levels_up_to(Marking.AMBER)
