"""Charts for the published products: a world choropleth, a heatmap and a bar chart.

The GLOCA report, the risk bulletins and the early-warning notes are rendered to HTML and,
through WeasyPrint, to PDF. Their charts are **SVG strings embedded inline** in that HTML:
one vector file serves the screen and the print (no resolution to choose, sharp at any
zoom), its text stays text (``svg.fonttype = 'none'``), so it is searchable, selectable
and read by screen readers, and each chart carries its own ``<title>`` and ``<desc>``.

Every chart is a :class:`Chart`: the SVG plus its title, text alternative, source line and
unit, so that a template can also print them beside the figure or in a list of figures.

The look is that of an agency threat assessment: a left-aligned title and a source line in
the figure, no frames, no grid beyond a faint guide, one colour-blind-friendly sequential
palette (ColorBrewer YlOrRd without its near-white end; its lightness falls monotonically,
so it also survives grey-scale printing), countries without a score in a light hatched
grey and EU member states, which are not assessed, in a plain neutral grey.

Figures are drawn 170 mm wide (the text width of an A4 page), so that their font sizes
are the printed sizes. The SVG keeps its ``viewBox`` and ``width``/``height`` in points:
in a template give it ``style="max-width: 100%; height: auto"`` (or ``width: 100%``) to
fit its column.

The same inputs give byte-identical SVG (no date, a hash salt and element ids derived
from the inputs); the ids are prefixed per chart, so that several charts can share one
HTML page. Matplotlib is imported only when a chart is drawn (the Dagster definitions
import this module), figures are plain :class:`matplotlib.figure.Figure` objects (no
pyplot state) and drawing is serialised by a lock, because matplotlib's settings are
process-global.

The world map is Natural Earth's 1:110m Admin-0 countries (public domain; see
``assets/reference/natural_earth/PROVENANCE.md``) in the Equal Earth projection (equal
area), without Antarctica. Countries are joined on ``ISO_A3``, falling back to
``ADM0_A3`` where ``ISO_A3`` is ``-99`` (France, Norway, ...); Kosovo is ``XKX`` as in the
rest of the pipeline, and Northern Cyprus and Somaliland, which the pipeline never scores
on their own, are drawn as part of Cyprus and Somalia (without a border between them).
Small island states and microstates (Malta, Singapore, Bahrain, ...) have no shape at
that scale: their scores are listed in :attr:`Chart.unmapped` for the text to mention.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

__all__ = [
    "GEOMETRY_PATH",
    "Chart",
    "bar_chart",
    "colour_for",
    "heatmap",
    "world_choropleth",
]

GEOMETRY_PATH: Path = (
    Path(__file__).resolve().parents[2]
    / "assets"
    / "reference"
    / "natural_earth"
    / "ne_110m_admin_0_countries.geojson"
)


@dataclass(frozen=True)
class Chart:
    """One chart, ready to embed: the SVG and the texts a template prints beside it."""

    svg: str  # inline SVG markup: no XML declaration, no DOCTYPE; viewBox kept
    title: str
    alt: str  # the text alternative: what the chart shows, in one or two sentences
    source: str  # the "Source: ..." line, as drawn in the figure
    unit: str
    unmapped: tuple[str, ...] = ()  # codes with a value but no shape on the map (sorted)


# --------------------------------------------------------------------------- look

#: ColorBrewer YlOrRd (9 classes) without its first, near-white class.
_PALETTE: tuple[str, ...] = (
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#bd0026",
    "#800026",
)
_TEXT = "#1a1a1a"
_MUTED = "#555555"  # secondary text; 7.5:1 on white
_GUIDE = "#e3e3e3"  # gridlines
_NO_SCORE = "#f0f0f0"
_HATCH = "#9a9a9a"
_HATCH_PATTERN = "/////"
_EXCLUDED = "#bcc1c7"  # neutral, slightly cool grey: distinct from the palette and from no-score
_BORDER = "#ffffff"
_FONT = "DejaVu Sans"

_WIDTH_IN = 170 / 25.4  # A4 text width
_MARGIN_IN = 0.04
_TITLE_PT = 11.0
_BODY_PT = 8.0
_SMALL_PT = 7.5
_SOURCE_PT = 7.0
_LINE = 1.3  # line height, in font sizes

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": ["sans-serif"],
    "font.sans-serif": [_FONT],
    "font.size": _BODY_PT,
    "text.color": _TEXT,
    "text.parse_math": False,  # "$" in a label is a dollar, not mathtext
    "axes.labelcolor": _TEXT,
    "axes.unicode_minus": True,
    "xtick.color": _MUTED,
    "ytick.color": _MUTED,
    "xtick.labelcolor": _MUTED,
    "ytick.labelcolor": _MUTED,
    "xtick.labelsize": _SMALL_PT,
    "ytick.labelsize": _SMALL_PT,
    "hatch.linewidth": 0.6,
    "hatch.color": _HATCH,
    "path.simplify": False,
    "legend.fontsize": _SMALL_PT,
}

_ISO3 = re.compile(r"[A-Z]{3}")
_LOCK = threading.Lock()


# --------------------------------------------------------------------------- public API


def world_choropleth(
    values: Mapping[str, float | None],
    *,
    title: str,
    unit: str,
    source: str,
    alt: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
    excluded: Iterable[str] = (),
    excluded_label: str = "EU member state (not assessed)",
) -> Chart:
    """A world map coloured by one value per country, with a colour bar labelled ``unit``.

    ``values`` maps ISO 3166 alpha-3 codes (``XKX`` for Kosovo) to a value or ``None``.
    A country of the map without a value (or with ``None`` or NaN) is drawn in light,
    hatched grey under the legend entry "no score"; ``excluded`` countries (the EU member
    states; one without a shape on the map, such as Malta, is simply not drawn) are drawn
    in a neutral grey under ``excluded_label``. Values outside
    ``[vmin, vmax]`` take the end colour and the colour bar gets an arrow at that end.

    Raises ValueError for a key or an excluded code that is not three upper-case letters,
    for a value given to an excluded country, for an infinite value and for
    ``vmin >= vmax``. Codes that are valid but have no shape at 1:110m (Malta,
    Singapore, ...) are returned, sorted, in :attr:`Chart.unmapped`.
    """
    _check_texts(title, alt)
    _check_range(vmin, vmax)
    cleaned = {code: _clean_value(value, code) for code, value in values.items()}
    bad = sorted(repr(code) for code in cleaned if not _is_iso3(code))
    if bad:
        raise ValueError(f"not ISO 3166 alpha-3 codes (three upper-case letters): {', '.join(bad)}")
    excluded_set = set(excluded)
    bad = sorted(repr(code) for code in excluded_set if not _is_iso3(code))
    if bad:
        raise ValueError(f"excluded codes are not ISO 3166 alpha-3: {', '.join(bad)}")
    clash = sorted(c for c in excluded_set if cleaned.get(c) is not None)
    if clash:
        raise ValueError(f"values given for excluded countries: {', '.join(clash)}")

    features = _world_features()
    mapped = {f.code for f in features}
    unmapped = tuple(sorted(code for code in cleaned if code not in mapped))
    source_line = _source_line(source)
    key = _digest(
        "world_choropleth",
        sorted(cleaned.items()),
        title,
        unit,
        source_line,
        alt,
        vmin,
        vmax,
        sorted(excluded_set),
        excluded_label,
    )

    def draw() -> Figure:
        return _draw_world(
            features, cleaned, excluded_set, title, unit, source_line, vmin, vmax, excluded_label
        )

    return Chart(
        svg=_render(draw, key, title, alt),
        title=title,
        alt=alt,
        source=source_line,
        unit=unit,
        unmapped=unmapped,
    )


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[tuple[str, str], float | None],
    *,
    title: str,
    unit: str,
    source: str,
    alt: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
    annotate: bool = True,
) -> Chart:
    """A grid of ``rows`` x ``columns`` cells coloured by ``values[(row, column)]``.

    Rows are drawn top to bottom and columns left to right in the order given. A missing
    or ``None`` (or NaN) cell is drawn in light, hatched grey under the legend entry "no
    score". With ``annotate`` each scored cell shows its value (two decimals for a range
    up to 5, one up to 50, none above), in white on dark cells. A colour bar labelled
    ``unit`` sits under the grid.

    Raises ValueError for empty or duplicated rows or columns, for a key whose row or
    column is not listed, for an infinite value and for ``vmin >= vmax``.
    """
    _check_texts(title, alt)
    _check_range(vmin, vmax)
    rows, columns = _labels(rows, "rows"), _labels(columns, "columns")
    row_set, column_set = set(rows), set(columns)
    stray = sorted(repr(k) for k in values if not (k[0] in row_set and k[1] in column_set))
    if stray:
        raise ValueError(f"heatmap keys outside the given rows and columns: {', '.join(stray)}")
    cells = {k: _clean_value(v, f"{k[0]} / {k[1]}") for k, v in values.items()}
    source_line = _source_line(source)
    key = _digest(
        "heatmap",
        rows,
        columns,
        sorted(cells.items()),
        title,
        unit,
        source_line,
        alt,
        vmin,
        vmax,
        annotate,
    )

    def draw() -> Figure:
        return _draw_heatmap(rows, columns, cells, title, unit, source_line, vmin, vmax, annotate)

    return Chart(
        svg=_render(draw, key, title, alt), title=title, alt=alt, source=source_line, unit=unit
    )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    unit: str,
    source: str,
    alt: str,
    vmax: float | None = None,
    highlight: Iterable[str] = (),
) -> Chart:
    """Horizontal bars, one per label, top to bottom in the order given (sort before).

    Each bar ends in its value; a ``None`` (or NaN) value gets no bar but the words "no
    score". The axis runs from 0 (or a round number below the smallest negative value) to
    ``vmax`` (default: a round number at or above the largest value) and is labelled
    ``unit``; a bar longer than ``vmax`` is cut at the axis end but labelled with its value.
    Bars named in ``highlight`` are drawn in the palette's dark end with a bold label (so
    that the emphasis does not rest on colour alone); the others in a light tone.

    Raises ValueError for empty or duplicated labels, labels and values of different
    lengths, a highlighted label that is not among the labels and infinite values.
    """
    _check_texts(title, alt)
    labels = _labels(labels, "labels")
    if len(values) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    numbers = tuple(_clean_value(v, label) for label, v in zip(labels, values, strict=True))
    highlighted = set(highlight)
    unknown = sorted(highlighted - set(labels))
    if unknown:
        raise ValueError(f"highlighted labels not among the labels: {', '.join(unknown)}")
    if vmax is not None and not math.isfinite(vmax):
        raise ValueError(f"vmax must be finite, not {vmax!r}")
    source_line = _source_line(source)
    key = _digest(
        "bar_chart",
        labels,
        numbers,
        title,
        unit,
        source_line,
        alt,
        vmax,
        sorted(highlighted),
    )

    def draw() -> Figure:
        return _draw_bars(labels, numbers, title, unit, source_line, vmax, highlighted)

    return Chart(
        svg=_render(draw, key, title, alt), title=title, alt=alt, source=source_line, unit=unit
    )


def colour_for(value: float, *, vmin: float = 0.0, vmax: float = 1.0) -> str:
    """The ``#rrggbb`` colour the charts give ``value`` on the scale ``[vmin, vmax]``.

    For a table or a text legend that must match a map or heatmap; values outside the
    range take the end colour.
    """
    _check_range(vmin, vmax)
    from matplotlib.colors import to_hex

    return to_hex(_colormap()(_fraction(value, vmin, vmax)))


# --------------------------------------------------------------------------- validation


def _check_texts(title: str, alt: str) -> None:
    if not title.strip():
        raise ValueError("a chart needs a title")
    if not alt.strip():
        raise ValueError("a chart needs its text alternative (alt)")


def _check_range(vmin: float, vmax: float) -> None:
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmin < vmax):
        raise ValueError(f"need finite vmin < vmax, got {vmin!r} and {vmax!r}")


def _is_iso3(code: object) -> bool:
    return isinstance(code, str) and _ISO3.fullmatch(code) is not None


def _clean_value(value: float | None, what: object) -> float | None:
    """None and NaN mean "no score"; an infinite value is an error."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ValueError(f"infinite value for {what}")
    return number


def _labels(labels: Sequence[str], what: str) -> tuple[str, ...]:
    labels = tuple(labels)
    if not labels:
        raise ValueError(f"no {what}")
    duplicated = sorted(x for x, n in Counter(labels).items() if n > 1)
    if duplicated:
        raise ValueError(f"duplicated {what}: {', '.join(duplicated)}")
    return labels


def _source_line(source: str) -> str:
    source = " ".join(source.split())
    if not source:
        raise ValueError("a chart needs its source")
    return source if source.lower().startswith(("source:", "sources:")) else f"Source: {source}"


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Feature:
    code: str  # the join code: ISO_A3, else ADM0_A3, then _GEOMETRY_ALIASES
    adm0: str  # Natural Earth's own ADM0_A3
    name: str
    rings: tuple[np.ndarray, ...]  # projected (x, y); exteriors counter-clockwise, holes not

    @property
    def absorbed(self) -> bool:
        """Drawn as part of another country (Northern Cyprus, Somaliland)."""
        return self.adm0 in _ABSORBED


#: Natural Earth codes that the pipeline spells otherwise: Kosovo is XKX throughout; the
#: pipeline never scores Northern Cyprus or Somaliland apart from Cyprus and Somalia.
_GEOMETRY_ALIASES: dict[str, str] = {"KOS": "XKX", "CYN": "CYP", "SOL": "SOM"}
_ABSORBED: frozenset[str] = frozenset({"CYN", "SOL"})
_DROPPED: frozenset[str] = frozenset({"ATA"})  # Antarctica: space, and no scores


@functools.cache
def _world_features() -> tuple[_Feature, ...]:
    """The map's countries, projected once per process (Equal Earth, unit sphere)."""
    import numpy as np

    collection = json.loads(GEOMETRY_PATH.read_text(encoding="utf-8"))
    features = []
    for feature in collection["features"]:
        props = feature["properties"]
        adm0 = props["ADM0_A3"]
        code = props["ISO_A3"] if props["ISO_A3"] != "-99" else adm0
        code = _GEOMETRY_ALIASES.get(code, code)
        if code in _DROPPED:
            continue
        geometry = feature["geometry"]
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        rings = []
        for polygon in polygons:
            for i, ring in enumerate(polygon):
                lonlat = np.asarray(ring, dtype=float)
                xy = _equal_earth(lonlat[:, 0], lonlat[:, 1])
                if (_signed_area(xy) > 0) != (i == 0):  # exterior CCW, holes CW
                    xy = xy[::-1]
                rings.append(xy)
        features.append(_Feature(code, adm0, props["NAME"], tuple(rings)))
    # the absorbed parts last, so that they can paint over the border they share
    features.sort(key=lambda f: f.absorbed)
    return tuple(features)


def _equal_earth(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The Equal Earth projection (Šavrič, Patterson and Jenny 2018), as in d3-geo."""
    import numpy as np

    a1, a2, a3, a4 = 1.340264, -0.081106, 0.000893, 0.003796
    m = math.sqrt(3) / 2
    lam, phi = np.radians(lon), np.radians(lat)
    theta = np.arcsin(m * np.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * np.cos(theta) / (m * (a1 + 3 * a2 * t2 + t6 * (7 * a3 + 9 * a4 * t2)))
    y = theta * (a1 + a2 * t2 + t6 * (a3 + a4 * t2))
    return np.column_stack([x, y])


def _signed_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum())


# --------------------------------------------------------------------------- drawing


@functools.cache
def _colormap() -> Colormap:
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("extra_sequential", list(_PALETTE), N=256)


def _fraction(value: float, vmin: float, vmax: float) -> float:
    return min(1.0, max(0.0, (value - vmin) / (vmax - vmin)))


def _number_format(lo: float, hi: float) -> Callable[[float], str]:
    span = abs(hi - lo)
    decimals = 2 if span <= 5 else 1 if span <= 50 else 0
    return lambda v: f"{v:,.{decimals}f}".replace("-", "\u2212")


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """The width of one line of ``text`` in inches, as matplotlib will lay it out."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=[_FONT], size=size, weight="bold" if bold else "normal")
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72


def _wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    """Greedy word wrap to ``width`` inches (a word longer than a line keeps its line)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and _text_width(candidate, size, bold) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _line_height(size: float) -> float:
    return size * _LINE / 72


class _Page:
    """A figure laid out in inches from the top: blocks are stacked downwards."""

    def __init__(self, height: float) -> None:
        from matplotlib.figure import Figure

        self.height = height
        self.figure = Figure(figsize=(_WIDTH_IN, height), dpi=100, facecolor="white")

    def rect(self, left: float, top: float, width: float, height: float) -> list[float]:
        """Figure-fraction [left, bottom, width, height] of a box given in inches."""
        return [
            left / _WIDTH_IN,
            1 - (top + height) / self.height,
            width / _WIDTH_IN,
            height / self.height,
        ]

    def text(self, left: float, top: float, text: str, **kwargs: Any) -> None:
        self.figure.text(
            left / _WIDTH_IN, 1 - top / self.height, text, ha="left", va="top", **kwargs
        )


_TOP_PAD = 0.06
_BOTTOM_PAD = 0.04
_GAP = 0.12
_COLOURBAR_W = 2.4
_COLOURBAR_INDENT = 0.12  # room for half of the first tick label
_COLOURBAR_H = 0.11
# the legend band: unit label above the bar, tick labels below it
_LEGEND_H = _line_height(_SMALL_PT) + 0.03 + _COLOURBAR_H + 0.04 + _line_height(_SMALL_PT)


def _title_lines(title: str) -> list[str]:
    return _wrap(title, _TITLE_PT, _WIDTH_IN - 2 * _MARGIN_IN, bold=True)


def _source_lines(source: str) -> list[str]:
    return _wrap(source, _SOURCE_PT, _WIDTH_IN - 2 * _MARGIN_IN)


def _frame(body_height: float, title: str, source: str) -> tuple[_Page, float]:
    """A page with the title at the top and the source at the bottom; the body's top."""
    title_lines, source_lines = _title_lines(title), _source_lines(source)
    title_h = len(title_lines) * _line_height(_TITLE_PT)
    source_h = len(source_lines) * _line_height(_SOURCE_PT)
    height = _TOP_PAD + title_h + _GAP + body_height + _GAP + source_h + _BOTTOM_PAD
    page = _Page(height)
    page.text(
        _MARGIN_IN,
        _TOP_PAD,
        "\n".join(title_lines),
        fontsize=_TITLE_PT,
        fontweight="bold",
        linespacing=_LINE,
    )
    page.text(
        _MARGIN_IN,
        height - _BOTTOM_PAD - source_h,
        "\n".join(source_lines),
        fontsize=_SOURCE_PT,
        color=_MUTED,
        linespacing=_LINE,
    )
    return page, _TOP_PAD + title_h + _GAP


def _bare(ax: Axes) -> None:
    ax.set_axis_off()
    ax.patch.set_visible(False)


def _colour_band(
    page: _Page,
    top: float,
    unit: str,
    vmin: float,
    vmax: float,
    extend: str,
    swatches: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """The legend band: a colour bar labelled ``unit``, then swatches (label, patch style)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    unit_h = _line_height(_SMALL_PT) + 0.03
    left = _MARGIN_IN + _COLOURBAR_INDENT
    cax = page.figure.add_axes(page.rect(left, top + unit_h, _COLOURBAR_W, _COLOURBAR_H))
    bar = page.figure.colorbar(
        ScalarMappable(Normalize(vmin, vmax), _colormap()),
        cax=cax,
        orientation="horizontal",
        extend=extend,
        extendfrac=0.04,
        ticks=MaxNLocator(nbins=5),
    )
    bar.outline.set_visible(False)
    cax.tick_params(length=0, pad=3, labelsize=_SMALL_PT, colors=_MUTED)
    page.text(left, top, unit, fontsize=_SMALL_PT, color=_TEXT)
    if swatches:
        handles = [Patch(label=label, **style) for label, style in swatches]
        x = left + _COLOURBAR_W + 0.35
        y = top + unit_h + _COLOURBAR_H / 2
        page.figure.legend(
            handles=handles,
            loc="center left",
            bbox_to_anchor=(x / _WIDTH_IN, 1 - y / page.height),
            ncol=len(handles),
            frameon=False,
            handlelength=1.6,
            handleheight=1.1,
            handletextpad=0.5,
            columnspacing=1.8,
            borderaxespad=0,
            borderpad=0,
            fontsize=_SMALL_PT,
            labelcolor=_TEXT,
        )


def _extend(values: Iterable[float | None], vmin: float, vmax: float) -> str:
    numbers = [v for v in values if v is not None]
    low = any(v < vmin for v in numbers)
    high = any(v > vmax for v in numbers)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (low, high), "neither"
    )


_NO_SCORE_STYLE: dict[str, Any] = {
    "facecolor": _NO_SCORE,
    "hatch": _HATCH_PATTERN,
    "hatchcolor": _HATCH,
    "edgecolor": "none",
}


def _draw_world(
    features: Sequence[_Feature],
    values: Mapping[str, float | None],
    excluded: set[str],
    title: str,
    unit: str,
    source: str,
    vmin: float,
    vmax: float,
    excluded_label: str,
) -> Figure:
    import numpy as np
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    everything = np.concatenate([ring for f in features for ring in f.rings])
    (x0, y0), (x1, y1) = everything.min(axis=0), everything.max(axis=0)
    map_w = _WIDTH_IN - 2 * _MARGIN_IN
    map_h = map_w * (y1 - y0) / (x1 - x0)
    page, top = _frame(map_h + _GAP + _LEGEND_H, title, source)
    ax = page.figure.add_axes(page.rect(_MARGIN_IN, top, map_w, map_h))
    _bare(ax)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)

    cmap = _colormap()
    any_missing = False
    for feature in features:
        code, value = feature.code, values.get(feature.code)
        if code in excluded:
            style: dict[str, Any] = {"facecolor": _EXCLUDED}
        elif value is None:
            style = {"facecolor": _NO_SCORE, "hatch": _HATCH_PATTERN, "hatchcolor": _HATCH}
            any_missing = True
        else:
            style = {"facecolor": cmap(_fraction(value, vmin, vmax))}
        if feature.absorbed:  # hide the border with the country it is drawn as part of
            style |= {"edgecolor": style["facecolor"], "linewidth": 0.5}
        else:
            style |= {"edgecolor": _BORDER, "linewidth": 0.3}
        vertices = np.concatenate(feature.rings)
        codes = np.full(len(vertices), MplPath.LINETO, dtype=MplPath.code_type)
        start = 0
        for ring in feature.rings:
            codes[start] = MplPath.MOVETO
            codes[start + len(ring) - 1] = MplPath.CLOSEPOLY
            start += len(ring)
        gid = f"country-{code}" + (f"-{feature.adm0}" if feature.absorbed else "")
        ax.add_patch(
            PathPatch(MplPath(vertices, codes), gid=gid, clip_on=False, joinstyle="round", **style)
        )

    swatches = []
    if any_missing:
        swatches.append(("no score", _NO_SCORE_STYLE))
    if excluded:
        swatches.append((excluded_label, {"facecolor": _EXCLUDED, "edgecolor": "none"}))
    _colour_band(
        page, top + map_h + _GAP, unit, vmin, vmax, _extend(values.values(), vmin, vmax), swatches
    )
    return page.figure


def _draw_heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], float | None],
    title: str,
    unit: str,
    source: str,
    vmin: float,
    vmax: float,
    annotate: bool,
) -> Figure:
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    label_gap = 0.08
    max_label_w = 1.7
    row_lines = [_wrap(r, _BODY_PT, max_label_w) for r in rows]
    label_w = min(
        max_label_w, max(_text_width(line, _BODY_PT) for lines in row_lines for line in lines)
    )
    grid_left = _MARGIN_IN + label_w + label_gap
    cell_w = min(0.95, (_WIDTH_IN - _MARGIN_IN - grid_left) / len(columns))
    pad = 0.05
    column_lines = [_wrap(c, _SMALL_PT, cell_w - pad) for c in columns]
    too_wide = any(
        _text_width(line, _SMALL_PT) > cell_w - pad for lines in column_lines for line in lines
    )
    if too_wide:  # upright labels do not fit: turn them, in two lines if the cell allows
        two_lines = cell_w - pad >= 2 * _line_height(_SMALL_PT) * 1.15
        column_lines = [_wrap(c, _SMALL_PT, 1.3) if two_lines else [c] for c in columns]
        column_lines = [lines if len(lines) <= 2 else [" ".join(lines)] for lines in column_lines]
        header_h = (
            max(_text_width(line, _SMALL_PT) for lines in column_lines for line in lines) + 0.06
        )
    else:
        header_h = max(len(lines) for lines in column_lines) * _line_height(_SMALL_PT) + 0.06
    cell_h = max(0.26, max(len(lines) for lines in row_lines) * _line_height(_BODY_PT) + 0.06)
    grid_h = cell_h * len(rows)
    grid_w = cell_w * len(columns)
    page, top = _frame(header_h + grid_h + _GAP + _LEGEND_H, title, source)
    ax = page.figure.add_axes(page.rect(grid_left, top + header_h, grid_w, grid_h))
    _bare(ax)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)

    for j, lines in enumerate(column_lines):
        ax.text(
            j + 0.5,
            -(0.06 if too_wide else 0.08) / cell_h,
            "\n".join(lines),
            ha="center",
            va="bottom" if too_wide else "baseline",  # a shared baseline, whatever descenders
            rotation=90 if too_wide else 0,
            multialignment="left" if too_wide else "center",  # turned: lines end on the grid
            fontsize=_SMALL_PT,
            color=_TEXT,
            linespacing=1.15,
        )
    for i, lines in enumerate(row_lines):
        ax.text(
            -label_gap / cell_w,
            i + 0.5,
            "\n".join(lines),
            ha="right",
            va="center",
            fontsize=_BODY_PT,
            color=_TEXT,
            linespacing=1.15,
        )

    cmap = _colormap()
    fmt = _number_format(vmin, vmax)
    any_missing = False
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            value = cells.get((row, column))
            if value is None:
                any_missing = True
                style: dict[str, Any] = dict(_NO_SCORE_STYLE)
            else:
                colour = cmap(_fraction(value, vmin, vmax))
                style = {"facecolor": colour, "edgecolor": "none"}
            ax.add_patch(
                Rectangle((j, i), 1, 1, linewidth=0, clip_on=False, gid=f"cell-{i}-{j}", **style)
            )
            if annotate and value is not None:
                r, g, b = to_rgb(colour)
                dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    fmt(value),
                    ha="center",
                    va="center",
                    fontsize=_SMALL_PT,
                    color="white" if dark else _TEXT,
                )
    # white gutters between the cells
    for j in range(1, len(columns)):
        ax.axvline(j, color="white", linewidth=1.5)
    for i in range(1, len(rows)):
        ax.axhline(i, color="white", linewidth=1.5)

    swatches = [("no score", _NO_SCORE_STYLE)] if any_missing else []
    _colour_band(
        page,
        top + header_h + grid_h + _GAP,
        unit,
        vmin,
        vmax,
        _extend(cells.values(), vmin, vmax),
        swatches,
    )
    return page.figure


def _draw_bars(
    labels: Sequence[str],
    values: Sequence[float | None],
    title: str,
    unit: str,
    source: str,
    vmax: float | None,
    highlighted: set[str],
) -> Figure:
    from matplotlib.ticker import MaxNLocator

    numbers = [v for v in values if v is not None]
    low = min([0.0, *numbers])
    high = vmax if vmax is not None else max([0.0, *numbers])
    if high <= low:
        high = low + 1.0
    ticks = MaxNLocator(nbins=5).tick_values(low, high)
    if vmax is None:  # end the axis on a round tick
        high = min(t for t in ticks if t >= high - 1e-9)
    if low < 0:
        low = max(t for t in ticks if t <= low + 1e-9)
    ticks = [t for t in ticks if low - 1e-9 <= t <= high + 1e-9]
    fmt = _number_format(low, high)

    max_label_w = 2.4
    label_lines = [
        _wrap(label, _BODY_PT, max_label_w, bold=label in highlighted) for label in labels
    ]
    label_w = min(
        max_label_w,
        max(
            _text_width(line, _BODY_PT, bold=label in highlighted)
            for label, lines in zip(labels, label_lines, strict=True)
            for line in lines
        ),
    )
    label_gap = 0.1
    value_room = max(
        [_text_width(fmt(v), _SMALL_PT) for v in numbers if v >= 0]
        + [_text_width("no score", _SMALL_PT)]
    )
    # room inside the axes, left of the smallest tick, for the labels of negative bars
    negative_room = max([_text_width(fmt(v), _SMALL_PT) + 0.08 for v in numbers if v < 0] + [0])
    pitch = max(0.27, max(len(lines) for lines in label_lines) * _line_height(_BODY_PT) + 0.08)
    plot_left = _MARGIN_IN + label_w + label_gap
    plot_w = _WIDTH_IN - _MARGIN_IN - plot_left - value_room - 0.1
    plot_h = pitch * len(labels)
    axis_h = 0.05 + _line_height(_SMALL_PT) + 0.05 + _line_height(_SMALL_PT)
    page, top = _frame(plot_h + axis_h, title, source)
    ax = page.figure.add_axes(page.rect(plot_left, top, plot_w, plot_h))
    ax.patch.set_visible(False)
    ax.set_xlim(low - negative_room * (high - low) / (plot_w - negative_room), high)
    ax.set_ylim(len(labels) - 0.5, -0.5)

    base, strong = _colormap()(0.3), _colormap()(0.86)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        is_highlighted = label in highlighted
        if value is None:
            ax.annotate(
                "no score",
                (0, i),
                xytext=(3, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=_SMALL_PT,
                color=_MUTED,
                fontstyle="italic",
            )
        else:
            ax.barh(
                i,
                value,
                height=0.62,
                color=strong if is_highlighted else base,
                linewidth=0,
                gid=f"bar-{i}",
                zorder=2,
            )
            shown = min(max(value, low), high)
            ax.annotate(  # SVG drops leading spaces: offset in points instead
                fmt(value),
                (shown, i),
                xytext=(3 if value >= 0 else -3, 0),
                textcoords="offset points",
                ha="left" if value >= 0 else "right",
                va="center",
                fontsize=_SMALL_PT,
                color=_TEXT,
                fontweight="bold" if is_highlighted else "normal",
                clip_on=False,
                zorder=3,
            )
        ax.text(
            -label_gap / plot_w,
            i,
            "\n".join(label_lines[i]),
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=_BODY_PT,
            color=_TEXT,
            fontweight="bold" if is_highlighted else "normal",
            linespacing=1.15,
        )

    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.axvline(0, color=_MUTED, linewidth=0.6, zorder=4)
    ax.set_yticks([])
    ax.set_xticks(ticks)
    ax.tick_params(axis="x", length=0, pad=4, labelsize=_SMALL_PT, colors=_MUTED)
    ax.grid(axis="x", color=_GUIDE, linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.set_xlabel(unit, fontsize=_SMALL_PT, color=_TEXT, labelpad=5, loc="left")
    return page.figure


# --------------------------------------------------------------------------- SVG output

_SVG_TAG = re.compile(r"<svg\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")
_ID = re.compile(r'\bid="([^"]+)"')
_REF_URL = re.compile(r"url\(#([^)]+)\)")
_REF_HREF = re.compile(r'\b(xlink:href|href)="#([^"]+)"')
_PATH_D = re.compile(r'\bd="([^"]*)"')
_NUMBER = re.compile(r"-?\d+\.\d+")
_IMAGE = re.compile(r"<image\b[^>]*/>")
_ATTR = re.compile(r'\b(x|y|width|height|transform)="([^"]*)"')


def _render(draw: Callable[[], Figure], key: str, title: str, alt: str) -> str:
    """Draw and serialise a figure to inline SVG, deterministically, under the lock."""
    import matplotlib as mpl

    buffer = io.StringIO()
    with _LOCK, mpl.rc_context(_RC | {"svg.hashsalt": key}):
        figure = draw()
        figure.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    return _finish_svg(buffer.getvalue(), key, title, alt)


def _finish_svg(svg: str, key: str, title: str, alt: str) -> str:
    """Inline-ready SVG: no prolog, ids unique per chart, accessible, coordinates rounded."""
    root = f"chart-{key}"
    svg = svg[svg.index("<svg") :]

    def fix_tag(match: re.Match[str]) -> str:
        tag = match.group(0)
        tag = _ID.sub(lambda m: f'id="{root}-{m.group(1)}"', tag)
        tag = _REF_URL.sub(lambda m: f"url(#{root}-{m.group(1)})", tag)
        tag = _REF_HREF.sub(lambda m: f'{m.group(1)}="#{root}-{m.group(2)}"', tag)
        return _PATH_D.sub(lambda m: f'd="{_round_path(m.group(1))}"', tag)

    svg = _TAG.sub(fix_tag, svg)
    svg = _gradient_colour_bar(svg, root)
    # matplotlib's default style would apply to the whole HTML page: scope it to the chart
    svg = svg.replace('<style type="text/css">*{', f'<style type="text/css">#{root} *{{', 1)
    head = _SVG_TAG.search(svg)
    assert head is not None
    opening = head.group(0)[:-1] + (
        f' id="{root}" role="img" aria-labelledby="{root}-title {root}-desc">'
        f'\n <title id="{root}-title">{escape(title)}</title>'
        f'\n <desc id="{root}-desc">{escape(alt)}</desc>'
    )
    return svg[: head.start()] + opening + svg[head.end() :]


def _round_path(d: str) -> str:
    """Path data with coordinates to 1/100 pt and without line breaks."""

    def short(match: re.Match[str]) -> str:
        text = f"{float(match.group(0)):.2f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text

    return " ".join(_NUMBER.sub(short, d).split())


def _gradient_colour_bar(svg: str, root: str) -> str:
    """Replace the colour bar's raster strip by a vector gradient of the same colours.

    Matplotlib rasterises a continuous colour bar into an embedded PNG; a linear gradient
    through the palette's stops is the same colour ramp (both interpolate in sRGB), sharper
    in print and smaller. A chart draws at most one colour bar.
    """
    images = _IMAGE.findall(svg)
    if len(images) != 1:
        return svg
    attrs = dict(_ATTR.findall(images[0]))
    if not {"x", "y", "width", "height"} <= attrs.keys():
        return svg
    gradient_id = f"{root}-ramp"
    last = len(_PALETTE) - 1
    stops = "".join(
        f'<stop offset="{i / last:.4f}" stop-color="{colour}"/>'
        for i, colour in enumerate(_PALETTE)
    )
    placement = " ".join(f'{name}="{attrs[name]}"' for name in ("x", "y", "width", "height"))
    if "transform" in attrs:
        placement += f' transform="{attrs["transform"]}"'
    rect = (
        f'<defs><linearGradient id="{gradient_id}" x1="0" y1="0" x2="1" y2="0">{stops}'
        f'</linearGradient></defs><rect {placement} fill="url(#{gradient_id})"/>'
    )
    return svg.replace(images[0], rect, 1)
