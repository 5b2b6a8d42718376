"""The product charts: real matplotlib, real Natural Earth geometry, SVG read back as XML."""

import hashlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from extra_pipeline.products import charts
from extra_pipeline.products.charts import Chart, bar_chart, colour_for, heatmap, world_choropleth

SVG = "{http://www.w3.org/2000/svg}"
EU = ("AUT", "DEU", "ITA", "ESP", "POL", "SWE", "FIN", "CYP", "MLT")
TRICKY_TITLE = 'Cocaine & synthetic drugs: <top> "markets"'

MAP_VALUES = {
    "COL": 0.9,
    "BRA": None,  # no score
    "MEX": 0.2,
    "FRA": 0.9,  # ISO_A3 -99 in the geometry: found via ADM0_A3
    "NOR": 0.2,  # idem
    "XKX": 0.55,  # Kosovo: KOS in Natural Earth
    "SOM": 0.7,  # Somaliland (SOL) is drawn as part of Somalia
    "SGP": 0.4,  # no shape at 1:110m
    "BHR": 0.3,  # idem
}


def world(**overrides) -> Chart:
    kwargs = {
        "title": "Criminality by country",
        "unit": "Criminality score (0–1)",
        "source": "GI-TOC Global Organized Crime Index 2025",
        "alt": "World map of criminality scores; highest in Colombia and France.",
        "excluded": EU,
    }
    kwargs |= overrides
    values = kwargs.pop("values", MAP_VALUES)
    return world_choropleth(values, **kwargs)


@pytest.fixture(scope="module")
def world_map() -> Chart:
    return world()


def parse(chart: Chart) -> ET.Element:
    """The SVG as XML (fails on anything that is not well-formed)."""
    return ET.fromstring(chart.svg)


def by_id_suffix(root: ET.Element, suffix: str) -> ET.Element:
    (element,) = [e for e in root.iter() if e.get("id", "").endswith(f"-{suffix}")]
    return element


def style(element: ET.Element) -> dict[str, str]:
    return dict(
        (part.split(":", 1)[0].strip(), part.split(":", 1)[1].strip())
        for part in element.get("style", "").split(";")
        if ":" in part
    )


def fill(root: ET.Element, gid: str) -> str:
    (path,) = by_id_suffix(root, gid).iter(f"{SVG}path")
    return style(path)["fill"]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


# --------------------------------------------------------------------------- choropleth


def test_choropleth_colours_countries_by_value(world_map: Chart) -> None:
    root = parse(world_map)
    assert fill(root, "country-COL") == colour_for(0.9)
    assert fill(root, "country-MEX") == colour_for(0.2)
    assert colour_for(0.9) != colour_for(0.2)
    # France and Norway have ISO_A3 "-99": joined on ADM0_A3
    assert fill(root, "country-FRA") == colour_for(0.9)
    assert fill(root, "country-NOR") == colour_for(0.2)
    # Kosovo is XKX in the pipeline; Somaliland takes Somalia's colour
    assert fill(root, "country-XKX") == colour_for(0.55)
    assert fill(root, "country-SOM") == colour_for(0.7)
    assert fill(root, "country-SOM-SOL") == colour_for(0.7)
    # every country of the geometry but Antarctica is drawn, once
    ids = [e.get("id") for e in root.iter() if "-country-" in e.get("id", "")]
    assert len(ids) == len(set(ids)) == 176
    assert not any(i.endswith("-country-ATA") for i in ids)


def test_choropleth_no_score_and_excluded(world_map: Chart) -> None:
    root = parse(world_map)
    hatched = fill(root, "country-BRA")  # None
    assert hatched.startswith("url(#") and fill(root, "country-CAN") == hatched  # absent
    pattern = root.find(f".//{SVG}pattern[@id='{hatched[5:-1]}']")
    assert pattern is not None and pattern.find(f"{SVG}rect").get("fill") == charts._NO_SCORE
    assert fill(root, "country-DEU") == fill(root, "country-ITA") == charts._EXCLUDED
    assert fill(root, "country-CYP-CYN") == charts._EXCLUDED  # Northern Cyprus: with Cyprus
    assert charts._EXCLUDED not in {colour_for(v / 100) for v in range(101)}
    legend = texts(root)
    assert "no score" in legend
    assert "EU member state (not assessed)" in legend
    assert "Criminality score (0–1)" in legend  # the colour bar's unit
    assert "Criminality by country" in legend  # the title, drawn as text
    assert "Source: GI-TOC Global Organized Crime Index 2025" in legend
    assert world_map.source == "Source: GI-TOC Global Organized Crime Index 2025"


def test_choropleth_without_excluded_has_no_excluded_entry() -> None:
    chart = world(values={"COL": 0.5}, excluded=(), excluded_label="EU member state")
    assert "EU member state" not in texts(parse(chart))
    assert fill(parse(chart), "country-DEU").startswith("url(#")  # no score


def test_choropleth_unmapped_and_invalid_codes(world_map: Chart) -> None:
    assert world_map.unmapped == ("BHR", "SGP")
    with pytest.raises(ValueError, match="'FRANCE', 'fr'"):
        world(values={"COL": 0.5, "fr": 0.1, "FRANCE": 0.2})
    with pytest.raises(ValueError, match="excluded countries: DEU"):
        world(values={"DEU": 0.3, "ITA": None})
    with pytest.raises(ValueError, match="excluded codes"):
        world(values={"COL": 0.5}, excluded=["de"])
    with pytest.raises(ValueError, match="infinite"):
        world(values={"COL": float("inf")})
    with pytest.raises(ValueError, match="vmin < vmax"):
        world(vmin=1.0, vmax=1.0)


def test_choropleth_out_of_range_values_take_the_end_colour() -> None:
    chart = world(values={"COL": 1.7, "MEX": -0.2})
    root = parse(chart)
    assert fill(root, "country-COL") == colour_for(1.0)
    assert fill(root, "country-MEX") == colour_for(0.0)


def test_world_map_size(world_map: Chart) -> None:
    assert len(world_map.svg.encode()) < 600_000


# --------------------------------------------------------------------------- SVG contract


def all_charts(title: str = TRICKY_TITLE) -> list[Chart]:
    common = {"title": title, "unit": "Score (0–1)", "source": "Source: EXTRA"}
    return [
        world(values={"COL": 0.5}, title=title, alt='Map of "scores" & <gaps>.'),
        heatmap(["A"], ["x"], {("A", "x"): 0.5}, alt="One cell & <no> more.", **common),
        bar_chart(["A", "B"], [0.5, 0.2], alt="Two bars & <two> labels.", **common),
    ]


@pytest.fixture(scope="module")
def tricky_charts() -> list[Chart]:
    return all_charts()


@pytest.mark.parametrize("index", [0, 1, 2], ids=["map", "heatmap", "bars"])
def test_svg_is_accessible_inline_markup(tricky_charts: list[Chart], index: int) -> None:
    chart = tricky_charts[index]
    assert chart.svg.startswith("<svg ")
    assert "<?xml" not in chart.svg and "<!DOCTYPE" not in chart.svg
    root = parse(chart)  # well-formed although the title holds & < > "
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") and root.get("role") == "img"
    first, second = list(root)[:2]
    assert first.tag == f"{SVG}title" and first.text == TRICKY_TITLE
    assert second.tag == f"{SVG}desc" and second.text == chart.alt
    assert root.get("aria-labelledby") == f"{first.get('id')} {second.get('id')}"
    assert "&amp;" in chart.svg and "&lt;top&gt;" in chart.svg
    # text stays text, in a generic sans-serif font
    assert TRICKY_TITLE in texts(root)
    assert all("sans-serif" in style(t)["font-family"] for t in root.iter(f"{SVG}text"))
    # every id is unique and prefixed by the root's, every reference resolves
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    assert all(i == root.get("id") or i.startswith(f"{root.get('id')}-") for i in ids)
    for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', chart.svg):
        assert (ref[0] or ref[1]) in ids
    # matplotlib's catch-all style is confined to this chart
    assert f"#{root.get('id')} *{{" in chart.svg


def test_output_is_deterministic_and_ids_differ_between_charts(
    tricky_charts: list[Chart],
) -> None:
    first, second = tricky_charts, all_charts()
    for a, b in zip(first, second, strict=True):
        assert a.svg == b.svg
    other = all_charts(title="Another title")
    for a, b in zip(first, other, strict=True):
        assert parse(a).get("id") != parse(b).get("id")
    assert "dc:date" not in first[0].svg and "<metadata" not in first[0].svg
    # the same values in another order are the same chart
    assert world(values={"MEX": 0.2, "COL": 0.5}).svg == world(values={"COL": 0.5, "MEX": 0.2}).svg


def test_chart_needs_title_alt_and_source() -> None:
    with pytest.raises(ValueError, match="text alternative"):
        bar_chart(["A"], [1.0], title="T", unit="u", source="s", alt=" ")
    with pytest.raises(ValueError, match="title"):
        bar_chart(["A"], [1.0], title="", unit="u", source="s", alt="a")
    with pytest.raises(ValueError, match="source"):
        bar_chart(["A"], [1.0], title="T", unit="u", source="", alt="a")


def test_source_prefix_is_added_once() -> None:
    chart = bar_chart(["A"], [1.0], title="T", unit="u", source="UNODC", alt="a")
    assert chart.source == "Source: UNODC"
    chart = bar_chart(["A"], [1.0], title="T", unit="u", source="Sources: UNODC; WB", alt="a")
    assert chart.source == "Sources: UNODC; WB"


# --------------------------------------------------------------------------- heatmap


def test_heatmap_missing_cell_is_no_score_and_values_are_annotated() -> None:
    rows, columns = ["Colombia", "Albania"], ["Cocaine", "Heroin", "Cannabis"]
    values = {
        ("Colombia", "Cocaine"): 0.93,
        ("Colombia", "Heroin"): 0.42,
        ("Colombia", "Cannabis"): 0.05,
        ("Albania", "Cocaine"): 0.71,
        ("Albania", "Heroin"): None,  # no score; ("Albania", "Cannabis") is absent
    }
    chart = heatmap(
        rows,
        columns,
        values,
        title="Threat by market",
        unit="Threat score",
        source="EXTRA",
        alt="a",
    )
    root = parse(chart)
    assert fill(root, "cell-0-0") == colour_for(0.93)
    assert fill(root, "cell-1-0") == colour_for(0.71)
    hatched = fill(root, "cell-1-1")
    assert hatched.startswith("url(#") and fill(root, "cell-1-2") == hatched
    drawn = texts(root)
    assert {"0.93", "0.42", "0.05", "0.71"} <= set(drawn)
    assert "no score" in drawn and "Threat score" in drawn
    assert {"Colombia", "Albania", "Cocaine", "Heroin", "Cannabis"} <= set(drawn)
    # dark cells get white figures
    (dark,) = [t for t in root.iter(f"{SVG}text") if "".join(t.itertext()) == "0.93"]
    assert style(dark)["fill"] == "#ffffff"

    plain = heatmap(rows, columns, values, title="T", unit="u", source="s", alt="a", annotate=False)
    assert "0.93" not in texts(parse(plain))


def test_heatmap_rejects_stray_keys_and_duplicates() -> None:
    with pytest.raises(ValueError, match="outside the given rows"):
        heatmap(["A"], ["x"], {("B", "x"): 1.0}, title="T", unit="u", source="s", alt="a")
    with pytest.raises(ValueError, match="duplicated rows: A"):
        heatmap(["A", "A"], ["x"], {}, title="T", unit="u", source="s", alt="a")


# --------------------------------------------------------------------------- bar chart


def test_bar_chart_highlight_and_missing_value() -> None:
    labels = ["Colombia", "Ecuador", "Albania", "Kosovo"]
    chart = bar_chart(
        labels,
        [0.91, 0.8, 0.72, None],
        title="Cocaine threat",
        unit="Threat score (0–1)",
        source="EXTRA threat matrix",
        alt="Bars.",
        highlight=["Ecuador"],
    )
    root = parse(chart)
    plain, strong, other = fill(root, "bar-0"), fill(root, "bar-1"), fill(root, "bar-2")
    assert strong != plain == other
    assert not [e for e in root.iter() if e.get("id", "").endswith("-bar-3")]  # no bar
    drawn = {"".join(t.itertext()): style(t) for t in root.iter(f"{SVG}text")}
    assert drawn["Ecuador"].get("font-weight") == "700"
    assert "font-weight" not in drawn["Colombia"]
    assert {"0.91", "0.80", "0.72", "no score", "Threat score (0–1)"} <= drawn.keys()
    with pytest.raises(ValueError, match="not among the labels: Peru"):
        bar_chart(
            labels, [1, 2, 3, 4], title="T", unit="u", source="s", alt="a", highlight=["Peru"]
        )
    with pytest.raises(ValueError, match="4 labels but 3 values"):
        bar_chart(labels, [1, 2, 3], title="T", unit="u", source="s", alt="a")


# --------------------------------------------------------------------------- module


def test_import_does_not_load_matplotlib() -> None:
    code = (
        "import sys, extra_pipeline.products.charts; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_geometry_is_the_recorded_natural_earth_file() -> None:
    provenance = (charts.GEOMETRY_PATH.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(charts.GEOMETRY_PATH.read_bytes()).hexdigest()
    assert digest == "a4d67eac9c75d5b6f20170d2b07bb53ea791536b0c8e5ebae3ba94df093f76e0"
    assert digest in provenance
