"""The HTML products as a reader sees them: both report editions, a bulletin and an
early-warning note opened in headless Chromium (Debian's `chromium`, which `make test`
installs where missing) through Playwright, then screenshotted.

Each page must load with no console error or warning, no script error and no request
(the HTML is self-contained: inline CSS and SVG, no JavaScript, nothing to fetch); carry its
marking in the title and in both marking bands; draw its charts at a real size; and show the
headings of its main sections."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import BULLETIN_MONTH, ProductsHome
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

from extra_pipeline.markings import Marking, parse_marking

VIEWPORT = {"width": 1280, "height": 900}
REPORT_SECTIONS = ("Executive summary", "Global overview", "Annex")
BULLETIN_SECTIONS = ("What changed", "Active early warnings", "Top threats", "Outlook")
NOTE_SECTIONS = ("Signal", "Evidence", "Why it matters to the EU", "Confidence")


@dataclass
class Opened:
    """A product loaded in a fresh page, with everything that went wrong while loading."""

    page: Page
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def open_product(browser: Browser) -> Iterator[Callable[[Path], Opened]]:
    """Open an HTML file in a new browser context, recording console errors and warnings,
    script errors, and any request that failed or left the file itself."""
    contexts = []

    def open_(path: Path) -> Opened:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        opened = Opened(context.new_page())
        url = path.as_uri()

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                opened.problems.append(f"console {message.type}: {message.text}")

        def on_request(request: Request) -> None:
            if request.url != url:
                opened.problems.append(f"request to {request.url}")

        def on_failed(request: Request) -> None:
            opened.problems.append(f"request failed: {request.url} ({request.failure})")

        opened.page.on("console", on_console)
        opened.page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
        opened.page.on("request", on_request)
        opened.page.on("requestfailed", on_failed)
        opened.page.goto(url, wait_until="load")
        return opened

    yield open_
    for context in contexts:
        context.close()


def check_marking(page: Page, level: Marking) -> None:
    """The title starts with the label, and both bands (top and bottom) show exactly it."""
    assert page.title().split(" · ")[0] == level.label, page.title()
    bands = page.locator(".marking-band")
    assert bands.count() == 2
    assert [text.strip() for text in bands.all_inner_texts()] == [level.label] * 2
    assert bands.first.is_visible()


def check_headings(page: Page, sections: tuple[str, ...]) -> None:
    for name in sections:
        heading = page.get_by_role("heading", name=name, exact=True)
        assert heading.count() == 1, name
        heading.scroll_into_view_if_needed()
        assert heading.is_visible(), name


def check_charts(page: Page, minimum: int) -> None:
    """At least `minimum` SVG charts in figures, each laid out at a non-zero size."""
    charts = page.locator("figure svg").all()
    assert len(charts) >= minimum
    for index, chart in enumerate(charts):
        box = chart.bounding_box()
        assert box is not None, index
        assert box["width"] > 100 and box["height"] > 100, (index, box)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def screenshot(page: Page, path: Path, *, min_kb: int, min_height: int) -> None:
    """A full-page PNG of the page, checked to be a real picture of it, not a blank strip."""
    page.screenshot(path=path, full_page=True, type="png")
    data = path.read_bytes()
    assert len(data) > min_kb * 1024, (path.name, len(data))
    width, height = png_size(data)
    assert width == VIEWPORT["width"], (path.name, width)
    assert height >= min_height, (path.name, height)


@pytest.mark.parametrize("level", [Marking.CLEAR, Marking.AMBER], ids=lambda m: m.slug)
def test_report_edition_opens_cleanly_in_chromium(
    products_home: ProductsHome, open_product, level: Marking, tmp_path: Path
) -> None:
    (path,) = (products_home.outputs / "report").glob(f"gloca-*.{level.slug}.html")
    opened = open_product(path)
    page = opened.page
    check_marking(page, level)
    check_headings(page, REPORT_SECTIONS)
    check_charts(page, minimum=2)
    world = page.locator("#overview + figure svg")
    assert world.count() == 1 and world.is_visible()
    screenshot(page, tmp_path / f"{path.stem}.png", min_kb=200, min_height=5 * VIEWPORT["height"])
    assert opened.problems == []


def test_bulletin_opens_cleanly_in_chromium(
    products_home: ProductsHome, open_product, tmp_path: Path
) -> None:
    path = products_home.outputs / "bulletins" / BULLETIN_MONTH / "market-cocaine-trade.clear.html"
    opened = open_product(path)
    page = opened.page
    check_marking(page, Marking.CLEAR)
    check_headings(page, BULLETIN_SECTIONS)
    check_charts(page, minimum=1)
    screenshot(page, tmp_path / f"{path.stem}.png", min_kb=50, min_height=VIEWPORT["height"])
    assert opened.problems == []


def test_notes_open_cleanly_in_chromium(
    products_home: ProductsHome, open_product, tmp_path: Path
) -> None:
    """The first note of each marking level there is (the fixture's warnings are all CLEAR)."""
    first: dict[Marking, Path] = {}
    for path in sorted((products_home.outputs / "notes").glob("*.html")):
        first.setdefault(parse_marking(path.suffixes[-2][1:]), path)
    assert Marking.CLEAR in first
    for level, path in first.items():
        opened = open_product(path)
        page = opened.page
        check_marking(page, level)
        check_headings(page, NOTE_SECTIONS)
        screenshot(page, tmp_path / f"{path.stem}.png", min_kb=30, min_height=VIEWPORT["height"])
        assert opened.problems == [], path.name
