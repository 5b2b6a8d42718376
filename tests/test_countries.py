"""Tests for the country harmoniser, on the shipped reference files and real source data."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

import babel
import pandas as pd
import pytest
import yaml

from extra_pipeline.countries import (
    ALIASES_FILENAME,
    LANGUAGES,
    REFERENCE_DIR,
    CountryHarmoniser,
    CountryMatch,
    default_harmoniser,
    normalise_name,
)

# Real source snapshots live in shared/data beside the checkout (CI has it too).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ALIASES_FILE = REFERENCE_DIR.parent / ALIASES_FILENAME


def shared_file(relative: str) -> Path:
    """A file from shared/data, or skip the test when shared/ is not beside the checkout."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data not available: {relative}")
    return path


@pytest.fixture(scope="module")
def harmoniser() -> CountryHarmoniser:
    return default_harmoniser()


# --- reference files and table ---------------------------------------------------------


def test_reference_dir_is_inside_the_repository() -> None:
    repo = Path(__file__).resolve().parents[1]
    assert repo / "assets" / "reference" / "countries" == REFERENCE_DIR
    assert ALIASES_FILE.is_file()


def test_shipped_files_match_provenance_sha256() -> None:
    provenance = (REFERENCE_DIR / "PROVENANCE.md").read_text("utf-8")
    listed = dict(re.findall(r"^\| `([^`]+\.csv)` \| `([0-9a-f]{64})` \|", provenance, re.M))
    assert set(listed) == {p.name for p in REFERENCE_DIR.glob("*.csv")}
    for name, sha256 in listed.items():
        assert hashlib.sha256((REFERENCE_DIR / name).read_bytes()).hexdigest() == sha256, name


def test_build_is_fast() -> None:
    start = time.perf_counter()
    CountryHarmoniser.from_reference()
    assert time.perf_counter() - start < 1.0


def test_default_harmoniser_is_built_once() -> None:
    assert default_harmoniser() is default_harmoniser()


def test_reference_table(harmoniser: CountryHarmoniser) -> None:
    table = harmoniser.reference_table()
    assert list(table.columns) == [
        "iso3",
        "iso2",
        "numeric",
        "name",
        "region",
        "subregion",
        "intermediate_region",
        "is_eu_member",
        "is_eea_member",
    ]
    assert len(table) == 249 + 1  # ISO 3166-1 plus Kosovo
    assert table["iso3"].is_unique and table["iso2"].is_unique
    assert table["iso3"].is_monotonic_increasing
    assert int(table["is_eu_member"].sum()) == 27
    assert int(table["is_eea_member"].sum()) == 30
    assert not (table["is_eu_member"] & ~table["is_eea_member"]).any()

    rows = table.set_index("iso3")
    assert rows.loc["NAM", "iso2"] == "NA"  # not read as missing
    assert rows.loc["DEU", "numeric"] == "276"
    assert rows.loc["AFG", "numeric"] == "004"
    kosovo = rows.loc["XKX"]
    assert (kosovo["iso2"], kosovo["region"], kosovo["subregion"]) == (
        "XK",
        "Europe",
        "Southern Europe",
    )
    assert not kosovo["is_eu_member"] and kosovo["numeric"] is None
    assert (rows.loc["TWN", "region"], rows.loc["TWN", "subregion"]) == ("Asia", "Eastern Asia")
    assert rows.loc["ATA", "region"] is None
    assert set(table.loc[table["region"].isna(), "iso3"]) == {"ATA"}
    assert table["numeric"].dropna().str.fullmatch(r"\d{3}").all()
    # A copy each time: callers cannot corrupt the harmoniser's table.
    table.loc[0, "name"] = "changed"
    assert harmoniser.reference_table().loc[0, "name"] != "changed"


def test_every_country_resolves_from_its_own_codes_and_name(
    harmoniser: CountryHarmoniser,
) -> None:
    for row in harmoniser.reference_table().itertuples():
        assert harmoniser.match(row.iso3) == CountryMatch(row.iso3, "country", row.iso3, "iso3")
        assert harmoniser.match(row.iso2).iso3 == row.iso3
        assert harmoniser.match(row.name).iso3 == row.iso3
        if row.numeric:
            assert harmoniser.match(row.numeric).iso3 == row.iso3


def test_cldr_names_in_all_languages_resolve_or_are_reported_ambiguous(
    harmoniser: CountryHarmoniser,
) -> None:
    table = harmoniser.reference_table()
    ambiguous: set[tuple[str, str]] = set()
    for lang in LANGUAGES:
        territories = babel.Locale.parse(lang).territories
        for iso2, iso3 in zip(table["iso2"], table["iso3"], strict=True):
            match = harmoniser.match(territories[iso2])
            if match.kind == "unmatched":
                assert match.reason.startswith("ambiguous: ")
                ambiguous.add((normalise_name(territories[iso2]), iso3))
            else:
                assert match.iso3 == iso3, (lang, iso2, territories[iso2])
    # The only clash: "Micronesia" is also the UN M49 sub-region.
    assert ambiguous == {("micronesia", "FSM")}


# --- real sources ----------------------------------------------------------------------


@pytest.mark.parametrize("edition", [2021, 2023, 2025])
def test_all_goci_countries_harmonise(harmoniser: CountryHarmoniser, edition: int) -> None:
    goci = pd.read_csv(shared_file(f"goci/global_oc_index_{edition}.csv"), keep_default_na=False)
    out = harmoniser.harmonise(goci, "Country")
    assert len(goci) == 193
    assert harmoniser.unmatched(goci["Country"]) == []
    assert (out["country_match"] == "country").all()
    assert out["iso3"].is_unique  # no two GOCI countries collapse into one


@pytest.mark.parametrize(
    ("name", "iso3"),
    [
        ("Bolivia", "BOL"),
        ("Brunei", "BRN"),
        ("Congo, Dem. Rep.", "COD"),
        ("Congo, Dem, Rep,", "COD"),  # the 2021 sheet writes commas for dots
        ("Congo, Rep.", "COG"),
        ("Czech Republic", "CZE"),
        ("Iran", "IRN"),
        ("Korea, DPR", "PRK"),
        ("Korea, Rep.", "KOR"),
        ("Laos", "LAO"),
        ("Micronesia (Federated States of)", "FSM"),
        ("Moldova", "MDA"),
        ("Netherlands", "NLD"),
        ("Russia", "RUS"),
        ("St. Kitts and Nevis", "KNA"),
        ("St, Lucia", "LCA"),
        ("St. Vincent and the Grenadines", "VCT"),
        ("Syria", "SYR"),
        ("Tanzania", "TZA"),
        ("Turkey", "TUR"),
        ("United Kingdom", "GBR"),
        ("United States", "USA"),
        ("Venezuela", "VEN"),
        ("Vietnam", "VNM"),
        ("eSwatini", "SWZ"),
        ("Niger", "NER"),
        ("Nigeria", "NGA"),
        ("Dominica", "DMA"),
        ("Dominican Republic", "DOM"),
        ("Guinea", "GIN"),
        ("Equatorial Guinea", "GNQ"),
    ],
)
def test_goci_names(harmoniser: CountryHarmoniser, name: str, iso3: str) -> None:
    assert harmoniser.match(name).iso3 == iso3


def test_all_wgi_codes_and_names_resolve_and_agree(harmoniser: CountryHarmoniser) -> None:
    wgi = pd.read_excel(
        shared_file("wgi/wgidataset.xlsx"), engine="calamine", usecols=["code", "countryname"]
    ).drop_duplicates()
    assert len(wgi) == 214
    by_code = harmoniser.harmonise(wgi, "code")
    by_name = harmoniser.harmonise(wgi, "countryname")
    assert set(by_code["country_match"]) == {"country", "historic"}
    assert by_code["country_match"].tolist() == by_name["country_match"].tolist()
    # Code and name of each row resolve to the same country.
    assert by_code["iso3"].tolist() == by_name["iso3"].tolist()
    historic = by_code.loc[by_code["country_match"] == "historic", "code"]
    assert historic.tolist() == ["ANT"]


# --- codes, names, aggregates ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "iso3", "matched_by"),
    [
        ("ROM", "ROU", "alias"),
        ("ZAR", "COD", "alias"),
        ("ADO", "AND", "alias"),
        ("TMP", "TLS", "alias"),
        ("KSV", "XKX", "alias"),
        ("WBG", "PSE", "alias"),
        ("EL", "GRC", "alias"),
        ("UK", "GBR", "alias"),
        ("NA", "NAM", "iso2"),
        ("na", "NAM", "iso2"),
        (" DE ", "DEU", "iso2"),
        ("XK", "XKX", "iso2"),
        ("XKX", "XKX", "iso3"),
        ("deu", "DEU", "iso3"),
        ("276", "DEU", "numeric"),
        (276, "DEU", "numeric"),
        (276.0, "DEU", "numeric"),
        ("4", "AFG", "numeric"),  # leading zeros lost by a spreadsheet
    ],
)
def test_codes(harmoniser: CountryHarmoniser, value: object, iso3: str, matched_by: str) -> None:
    match = harmoniser.match(value)
    assert (match.kind, match.iso3, match.matched_by) == ("country", iso3, matched_by)


@pytest.mark.parametrize(
    ("name", "iso3"),
    [
        ("Allemagne", "DEU"),
        ("Deutschland", "DEU"),
        ("Alemania", "DEU"),
        ("Germania", "DEU"),
        ("Duitsland", "DEU"),
        ("Alemanha", "DEU"),
        ("Niemcy", "DEU"),
        ("Côte d'Ivoire", "CIV"),
        ("Cote d’Ivoire", "CIV"),
        ("Ivory Coast", "CIV"),
        ("Elfenbeinküste", "CIV"),
        ("Costa d'Avorio", "CIV"),
        ("Ivoorkust", "CIV"),
        ("Costa do Marfim", "CIV"),
        ("Pays-Bas", "NLD"),
        ("Paesi Bassi", "NLD"),
        ("Nederland", "NLD"),
        ("Holandia", "NLD"),
        ("Royaume-Uni", "GBR"),
        ("Wielka Brytania", "GBR"),
        ("Włochy", "ITA"),
        ("Wlochy", "ITA"),
        ("Kosowo", "XKX"),
        ("Bahamas, The", "BHS"),
        ("The Gambia", "GMB"),
        ("Saint Lucia", "LCA"),
        ("ST LUCIA", "LCA"),
        ("Trinidad & Tobago", "TTO"),
        ("Congo", "COG"),  # ISO, UN, WB and CLDR all use the bare name for COG
        ("China, Hong Kong SAR", "HKG"),
        ("Kosovo under UNSCR 1244", "XKX"),
        ("Taiwan, China", "TWN"),
    ],
)
def test_names(harmoniser: CountryHarmoniser, name: str, iso3: str) -> None:
    match = harmoniser.match(name)
    assert (match.kind, match.iso3) == ("country", iso3), match


def test_matched_by_reports_the_language(harmoniser: CountryHarmoniser) -> None:
    assert harmoniser.match("Allemagne").matched_by == "name:fr"
    assert harmoniser.match("Niemcy").matched_by == "name:pl"
    assert harmoniser.match("Korea, DPR").matched_by == "alias"


@pytest.mark.parametrize(
    "value",
    [
        "World",
        "WLD",
        "Europe & Central Asia",
        "ECS",
        "Sub-Saharan Africa",
        "SSF",
        "European Union",
        "EUU",
        "EU",
        "EU27_2020",
        "EU28",
        "EA20",
        "EA",
        "Euro area - 20 countries (from 2023)",
        "High income",
        "OECD members",
        "Arab World",
        "001",
        "150",
        "419",
        "Welt",
        "Monde",
        "Amérique latine",
        "Afryka Subsaharyjska",
        "Southern Europe",
        "Latin America and the Caribbean",
        "Caribbean",
    ],
)
def test_aggregates(harmoniser: CountryHarmoniser, value: str) -> None:
    match = harmoniser.match(value)
    assert (match.kind, match.iso3) == ("aggregate", None), match


def test_every_declared_aggregate_code_is_an_aggregate(harmoniser: CountryHarmoniser) -> None:
    declared = yaml.safe_load(ALIASES_FILE.read_text("utf-8"))["aggregates"]["codes"]
    for code, name in declared.items():
        assert harmoniser.match(code).kind == "aggregate", code
        assert harmoniser.match(name).kind == "aggregate", name


@pytest.mark.parametrize("value", ["ANT", "AN", "Netherlands Antilles (former)"])
def test_historic(harmoniser: CountryHarmoniser, value: str) -> None:
    match = harmoniser.match(value)
    assert (match.kind, match.iso3) == ("historic", None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Atlantis", "unknown"),
        ("ZZZ", "unknown"),
        ("999", "unknown"),
        (None, "empty"),
        (float("nan"), "empty"),
        (pd.NA, "empty"),
        ("", "empty"),
        ("   ", "empty"),
        ("Micronesia", "ambiguous: FSM, aggregate 057"),
    ],
)
def test_unmatched(harmoniser: CountryHarmoniser, value: object, reason: str) -> None:
    match = harmoniser.match(value)
    assert (match.kind, match.iso3, match.matched_by, match.reason) == (
        "unmatched",
        None,
        "",
        reason,
    )


# --- aliases file decides ----------------------------------------------------------------


def _reference_copy(tmp_path: Path, edit: dict[str, dict[str, str]]) -> Path:
    """A copy of the shipped reference with extra entries merged into the aliases file."""
    shutil.copytree(REFERENCE_DIR, tmp_path / "countries")
    aliases = yaml.safe_load(ALIASES_FILE.read_text("utf-8"))
    for section, entries in edit.items():
        aliases[section] = {**(aliases.get(section) or {}), **entries}
    (tmp_path / ALIASES_FILENAME).write_text(yaml.safe_dump(aliases), "utf-8")
    return tmp_path / "countries"


def test_an_alias_decides_an_ambiguous_name_and_wins_over_generated_names(
    tmp_path: Path,
) -> None:
    reference = _reference_copy(tmp_path, {"name_aliases": {"Micronesia": "FSM", "Congo": "COD"}})
    harmoniser = CountryHarmoniser.from_reference(reference)
    assert harmoniser.match("Micronesia") == CountryMatch("Micronesia", "country", "FSM", "alias")
    assert harmoniser.match("Congo").iso3 == "COD"


@pytest.mark.parametrize(
    "edit",
    [
        {"name_aliases": {"Ruritania": "RRR"}},  # unknown target
        {"code_aliases": {"DE": "FRA"}},  # would shadow an ISO code
        {"code_aliases": {"WLD": "ITA"}},  # a code meaning two things
    ],
)
def test_a_bad_aliases_file_fails_loudly(tmp_path: Path, edit: dict[str, dict[str, str]]) -> None:
    with pytest.raises(ValueError):
        CountryHarmoniser.from_reference(_reference_copy(tmp_path, edit))


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Côte d’Ivoire", "cote d ivoire"),
        ("  Trinidad &  Tobago ", "trinidad and tobago"),
        ("Guinea-Bissau", "guinea bissau"),
        ("St. Kitts and Nevis", "saint kitts and nevis"),
        ("St, Lucia", "saint lucia"),
        ("Micronesia, Fed. Sts.", "micronesia fed sts"),  # "sts" is not "st"
        ("Estonia", "estonia"),
        ("The Gambia", "gambia"),
        ("Bahamas, The", "bahamas"),
        ("Włochy", "wlochy"),
        ("EU27_2020", "eu27 2020"),
        ("TÜRKİYE", "turkiye"),
    ],
)
def test_normalise_name(raw: str, normalised: str) -> None:
    assert normalise_name(raw) == normalised


# --- frames --------------------------------------------------------------------------------


class _CountingHarmoniser(CountryHarmoniser):
    """Counts calls to match(), to show harmonise() works on unique values."""

    calls = 0

    def match(self, value: object) -> CountryMatch:
        type(self).calls += 1
        return super().match(value)


def test_harmonise_keeps_every_row_and_matches_each_value_once() -> None:
    harmoniser = _CountingHarmoniser.from_reference()
    values = ["Germany", "DEU", None, "Atlantis", "World", float("nan"), "Germany", "ANT"] * 500
    frame = pd.DataFrame({"country": values, "value": range(len(values))})
    frame.index = frame.index + 100  # a non-default index must be kept
    before = frame.copy()

    out = harmoniser.harmonise(frame, "country")

    assert _CountingHarmoniser.calls == 5  # the distinct non-missing values
    pd.testing.assert_frame_equal(frame, before)  # the input is not modified
    assert out.index.equals(frame.index)
    pd.testing.assert_frame_equal(out[["country", "value"]], frame)
    assert out["iso3"].iloc[:8].tolist() == ["DEU", "DEU", None, None, None, None, "DEU", None]
    assert out["country_match"].iloc[:8].tolist() == [
        "country",
        "country",
        "unmatched",
        "unmatched",
        "aggregate",
        "unmatched",
        "country",
        "historic",
    ]


def test_harmonise_rejects_a_missing_column(harmoniser: CountryHarmoniser) -> None:
    with pytest.raises(KeyError, match="nope"):
        harmoniser.harmonise(pd.DataFrame({"country": ["DEU"]}), "nope")


def test_unmatched_lists_distinct_values_sorted(harmoniser: CountryHarmoniser) -> None:
    found = harmoniser.unmatched(
        ["Germany", "Zembla", "Atlantis", "Zembla", None, "World", "Micronesia", ""]
    )
    assert [(m.query, m.reason) for m in found] == [
        ("", "empty"),
        ("Atlantis", "unknown"),
        ("Micronesia", "ambiguous: FSM, aggregate 057"),
        ("Zembla", "unknown"),
        (None, "empty"),
    ]


def test_parts_of_countries_are_recognised_but_never_counted_as_their_country(
    harmoniser: CountryHarmoniser,
) -> None:
    for value, kind in (("GBR_E_W", "subnational"), ("gbr_s", "subnational"), ("GBR", "country")):
        match = harmoniser.match(value)
        assert match.kind == kind, value
        assert match.iso3 == ("GBR" if kind == "country" else None)


def test_a_part_of_an_unknown_country_is_refused(tmp_path: Path) -> None:
    reference = tmp_path / "countries"
    shutil.copytree(REFERENCE_DIR, reference)
    aliases = yaml.safe_load((REFERENCE_DIR.parent / ALIASES_FILENAME).read_text("utf-8"))
    aliases["subnational"].append({"values": ["XX_N"], "parent": "XXX", "label": "North"})
    (tmp_path / ALIASES_FILENAME).write_text(yaml.safe_dump(aliases), encoding="utf-8")
    with pytest.raises(ValueError, match="subnational 'North' points at unknown country 'XXX'"):
        CountryHarmoniser.from_reference(reference)
