"""Drop contracts: loading and checking the YAML, header normalisation and matching."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extra_pipeline.drops.contracts import (
    Contract,
    ContractError,
    HeaderMatch,
    detect_dataset,
    load_contracts,
    match_headers,
    normalise_header,
    normalise_value,
)
from extra_pipeline.drops.model import DropRejected
from extra_pipeline.markings import Marking

LANGUAGES = ("fr", "de", "es", "it", "nl", "pt", "pl")
NETWORK_MAIN_COLUMNS = (
    "network_ref",
    "assessment_date",
    "principal_markets",
    "base_country",
    "countries_active",
    "member_count_band",
    "threat_level",
)

# A demo-data generator writes these headers: they must stay accepted, spelled exactly so.
SEIZURE_HEADERS = {
    "fr": {
        "seizure_ref": "référence de la saisie",
        "seizure_date": "date de saisie",
        "market": "marché",
        "commodity": "produit",
        "quantity": "quantité",
        "unit": "unité",
        "origin_country": "pays d'origine",
        "departure_country": "pays de départ",
        "destination_country": "pays de destination",
        "transit_countries": "pays de transit",
        "transport_mode": "mode de transport",
        "location": "lieu",
        "arrests": "arrestations",
    },
    "de": {
        "seizure_ref": "Sicherstellungsnummer",
        "seizure_date": "Datum der Sicherstellung",
        "market": "Markt",
        "commodity": "Ware",
        "quantity": "Menge",
        "unit": "Einheit",
        "origin_country": "Herkunftsland",
        "departure_country": "Abgangsland",
        "destination_country": "Bestimmungsland",
        "transit_countries": "Transitländer",
        "transport_mode": "Verkehrsträger",
        "location": "Ort",
        "arrests": "Festnahmen",
    },
}


# --------------------------------------------------------------------------- shipped contracts


def test_shipped_contracts_load(contracts: dict[str, Contract]) -> None:
    assert set(contracts) == {"seizures", "criminal_networks"}  # rule_help.yaml is not one
    for contract in contracts.values():
        assert contract.marking is Marking.AMBER
        assert contract.version >= 1
        assert contract.description
        for spec in contract.columns:
            assert spec.description, f"{contract.dataset}.{spec.name} has no description"
            assert spec.example is not None, f"{contract.dataset}.{spec.name} has no example"


def test_seizures_columns_follow_the_issue(seizures: Contract) -> None:
    assert seizures.column_names == tuple(SEIZURE_HEADERS["fr"])
    assert seizures.required_columns == (
        "seizure_ref",
        "seizure_date",
        "market",
        "quantity",
        "unit",
    )
    ref = seizures.column("seizure_ref")
    assert (ref.unique, ref.max_length) == (True, 64)
    assert set(seizures.column("unit").values) == {
        "kg",
        "g",
        "t",
        "l",
        "ml",
        "units",
        "tablets",
        "doses",
    }
    assert set(seizures.column("transport_mode").values) == {
        "sea",
        "air",
        "road",
        "rail",
        "postal",
        "other",
    }
    assert seizures.column("quantity").minimum == 0
    assert seizures.column("arrests").minimum == 0
    assert [c.name for c in seizures.conversions] == ["quantity_kg"]


def test_networks_columns_follow_the_issue(contracts: dict[str, Contract]) -> None:
    networks = contracts["criminal_networks"]
    assert networks.required_columns == ("network_ref", "principal_markets", "base_country")
    assert networks.column("network_ref").unique
    assert set(networks.column("threat_level").values) == {"low", "medium", "high", "very_high"}
    assert set(networks.column("member_count_band").values) == {
        "1-10",
        "11-50",
        "51-100",
        "101-500",
        ">500",
    }
    types = {spec.name: spec.type for spec in networks.columns}
    assert {n for n, t in types.items() if t == "boolean"} == {
        "uses_legal_business", "uses_violence", "uses_corruption", "hvt"
    }  # fmt: skip
    assert types["principal_markets"] == "market_list"
    assert types["countries_active"] == types["nationalities"] == "country_list"


@pytest.mark.parametrize("language", ["fr", "de"])
def test_exact_seizure_aliases_for_the_demo_generator(seizures: Contract, language: str) -> None:
    for column, header in SEIZURE_HEADERS[language].items():
        assert header in seizures.column(column).aliases[language], (column, header)
    headers = list(SEIZURE_HEADERS[language].values())
    match = match_headers(seizures, headers)
    assert match.mapping == dict(enumerate(SEIZURE_HEADERS[language]))
    assert match.extras == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_names_the_columns(contracts: dict[str, Contract], language: str) -> None:
    seizures, networks = contracts["seizures"], contracts["criminal_networks"]
    for contract, columns in ((seizures, seizures.column_names), (networks, NETWORK_MAIN_COLUMNS)):
        for name in columns:
            assert contract.column(name).aliases.get(language), f"{name}: no {language} alias"
    # A whole file headed in that language maps every column.
    headers = [spec.aliases[language][0] for spec in seizures.columns]
    assert list(match_headers(seizures, headers).mapping.values()) == list(seizures.column_names)


def test_every_listed_alias_matches_its_column(contracts: dict[str, Contract]) -> None:
    for contract in contracts.values():
        for spec in contract.columns:
            others = [name for name in contract.required_columns if name != spec.name]
            for spelling in spec.header_spellings:
                match = match_headers(contract, [*others, spelling.upper()])
                assert match.mapping[len(others)] == spec.name, (contract.dataset, spelling)


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "header",
    [
        "pays d'origine",
        "Pays d’Origine",
        "PAYS_D_ORIGINE",
        "pays-d-origine",
        "  pays  d'origine  ",
        "pays.d.origine",
        "PaysDOrigine",
    ],
)
def test_header_normalisation_ignores_case_accents_and_separators(header: str) -> None:
    assert normalise_header(header) == "paysdorigine"


def test_header_normalisation_folds_accents_and_special_letters() -> None:
    assert normalise_header("Transitländer") == normalise_header("TRANSITLANDER")
    assert normalise_header("Straße") == "strasse"
    assert normalise_header("ilość") == normalise_header("ILOSC")
    assert normalise_header("référence de la saisie") == "referencedelasaisie"


def test_value_normalisation_keeps_words_apart() -> None:
    assert normalise_value("Très  élevé") == "tres eleve"
    assert normalise_value("very_high") == normalise_value("Very-High") == "very high"
    assert normalise_value("1–10") == normalise_value("1-10") != normalise_value("110")


@given(st.text())
def test_header_normalisation_is_idempotent(text: str) -> None:
    once = normalise_header(text)
    assert normalise_header(once) == once


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_ACCENTS = ("\u0301", "\u0300", "\u0308", "\u0302", "\u0327", "\u030c")


@given(
    words=st.lists(_WORD, min_size=1, max_size=5),
    separators=st.lists(
        st.sampled_from([" ", "_", "-", "'", ".", "  ", "’", " - "]), min_size=5, max_size=5
    ),
    upper=st.lists(st.booleans(), min_size=40, max_size=40),
    accents=st.lists(st.sampled_from(("", *_ACCENTS)), min_size=40, max_size=40),
)
def test_header_normalisation_ignores_case_accents_and_separators_property(
    words: list[str], separators: list[str], upper: list[bool], accents: list[str]
) -> None:
    plain = "".join(words)
    decorated = ""
    for i, word in enumerate(words):
        letters = [
            (ch.upper() if upper[(i * 8 + j) % 40] else ch)
            + (accents[(i * 8 + j) % 40] if ch.isalpha() else "")
            for j, ch in enumerate(word)
        ]
        decorated += "".join(letters) + (separators[i] if i < len(words) - 1 else "")
    decorated = unicodedata.normalize("NFC", decorated)  # composed, as files usually hold them
    assert normalise_header(decorated) == normalise_header(plain) == plain


# --------------------------------------------------------------------------- matching


def test_match_maps_positions_and_keeps_extras(seizures: Contract) -> None:
    headers = ["Seizure-Ref", "notes", "Seizure Date", "MARKET", "Quantity", "unit", ""]
    match = match_headers(seizures, headers)
    assert match.mapping == {
        0: "seizure_ref",
        2: "seizure_date",
        3: "market",
        4: "quantity",
        5: "unit",
    }
    assert match.extras == {1: "notes", 6: ""}


def test_sql_looking_headers_are_just_extras(seizures: Contract) -> None:
    hostile = ['"; DROP TABLE x; --', "Robert'); DROP TABLE audit.drops;--", "=cmd|' /C calc'!A0"]
    headers = ["seizure_ref", "seizure_date", *hostile, "market", "quantity", "unit"]
    match = match_headers(seizures, headers)
    assert match.extras == {2: hostile[0], 3: hostile[1], 4: hostile[2]}
    assert set(match.mapping.values()) == set(seizures.required_columns)


def test_two_headers_for_one_column_are_ambiguous(seizures: Contract) -> None:
    headers = ["seizure_ref", "seizure_date", "market", "quantity", "unit", "Einheit"]
    with pytest.raises(DropRejected) as raised:
        match_headers(seizures, headers)
    assert raised.value.code == "ambiguous_headers"
    assert "column 5 'unit'" in raised.value.message
    assert "column 6 'Einheit'" in raised.value.message


def test_normalised_duplicates_are_ambiguous(seizures: Contract) -> None:
    headers = ["seizure_ref", "Seizure Ref", "seizure_date", "market", "quantity", "unit"]
    with pytest.raises(DropRejected) as raised:
        match_headers(seizures, headers)
    assert raised.value.code == "ambiguous_headers"
    assert "'seizure_ref'" in raised.value.message and "'Seizure Ref'" in raised.value.message


def test_missing_required_columns_are_named_with_their_spellings(seizures: Contract) -> None:
    with pytest.raises(DropRejected) as raised:
        match_headers(seizures, ["seizure_ref", "market", "unit", "commodity"])
    assert raised.value.code == "missing_columns"
    message = raised.value.message
    assert "seizure_date" in message and "quantity" in message
    assert "'Datum der Sicherstellung'" in message and "'quantité'" in message
    assert "market (" not in message  # present columns are not listed


def test_select_builds_the_contract_frame(seizures: Contract) -> None:
    match = match_headers(
        seizures, ["x", "unit", "quantity", "market", "seizure_date", "seizure_ref"]
    )
    rows = pd.DataFrame(
        [["a", "kg", "1", "cocaine", "2024-01-01", "R1"]], columns=[f"c{i}" for i in range(6)]
    )
    frame = match.select(rows)
    assert list(frame.columns) == ["unit", "quantity", "market", "seizure_date", "seizure_ref"]
    assert frame.iloc[0].tolist() == ["kg", "1", "cocaine", "2024-01-01", "R1"]
    assert isinstance(match, HeaderMatch)


def test_detect_dataset(contracts: dict[str, Contract]) -> None:
    assert detect_dataset(contracts, list(SEIZURE_HEADERS["de"].values())) == "seizures"
    networks = ["Référence du réseau", "marchés principaux", "pays de base", "menace"]
    assert detect_dataset(contracts, networks) == "criminal_networks"
    assert detect_dataset(contracts, ["foo", "bar"]) is None
    both = list(SEIZURE_HEADERS["fr"].values()) + networks
    assert detect_dataset(contracts, both) is None  # several fit: the sender must say which


# --------------------------------------------------------------------------- loader errors

_MINIMAL = """\
dataset: {name}
version: 1
description: test
marking: {marking}
columns:
  - name: ref
    type: text
    required: true
    aliases:
      en: [reference]
{extra}
"""


def _write(directory: Path, text: str, name: str = "things") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loader_reads_a_minimal_contract_and_skips_other_yaml(tmp_path: Path) -> None:
    _write(tmp_path, _MINIMAL.format(name="things", marking="amber+strict", extra=""))
    _write(tmp_path, "rules:\n  required: fill it in\n", name="rule_help")
    contracts = load_contracts(tmp_path)
    assert list(contracts) == ["things"]
    assert contracts["things"].marking is Marking.AMBER_STRICT
    assert contracts["things"].header_index == {"ref": "ref", "reference": "ref"}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  - name: when\n    type: datetime\n", "column 'when': type 'datetime'"),
        ("  - name: Bad Name\n    type: text\n", "'name' 'Bad Name'"),
        (
            "  - name: other\n    type: text\n    aliases: {fr: [Référence]}\n",
            "columns 'ref' and 'other' both accept",
        ),
        (
            "  - name: flag\n    type: enum\n    values: {a: [x], b: [X]}\n",
            "column 'flag': 'X' is listed for both 'a' and 'b'",
        ),
        (
            "  - name: flag\n    type: enum\n    values: {yes: [oui]}\n",
            "column 'flag': 'values': key True must be quoted",
        ),
        ("  - name: flag\n    type: enum\n    values: {a: [no]}\n", "quote yes/no"),
        ("  - name: flag\n    type: enum\n", "'values' is required for an enum"),
        (
            "  - name: n\n    type: decimal\n    minimum: zero\n",
            "column 'n': 'minimum' must be a number",
        ),
        (
            "  - name: d\n    type: date\n    maximum: tomorrow\n",
            "column 'd': 'maximum' must be a date",
        ),
        ("  - name: n\n    type: text\n    colour: red\n", "column 'n': unknown key(s) colour"),
        ("  - name: ref\n    type: text\n", "column 'ref' is defined twice"),
    ],
)
def test_loader_errors_name_file_and_column(tmp_path: Path, extra: str, expected: str) -> None:
    _write(tmp_path, _MINIMAL.format(name="things", marking="amber", extra=extra))
    with pytest.raises(ContractError) as raised:
        load_contracts(tmp_path)
    assert str(raised.value).startswith("things.yaml: ")
    assert expected in str(raised.value)


def test_loader_checks_dataset_name_marking_and_yaml(tmp_path: Path) -> None:
    _write(tmp_path, _MINIMAL.format(name="others", marking="amber", extra=""))
    with pytest.raises(
        ContractError, match=r"things\.yaml: dataset 'others' must match the file name"
    ):
        load_contracts(tmp_path)
    _write(tmp_path, _MINIMAL.format(name="things", marking="purple", extra=""))
    with pytest.raises(ContractError, match=r"things\.yaml: 'marking'"):
        load_contracts(tmp_path)
    _write(tmp_path, "dataset: [unclosed\n")
    with pytest.raises(ContractError, match=r"things\.yaml: not valid YAML"):
        load_contracts(tmp_path)


def test_loader_checks_conversions(tmp_path: Path) -> None:
    extra = (
        "  - name: qty\n    type: decimal\n"
        "  - name: unit\n    type: enum\n    values: {kg: [kilo]}\n"
        "conversions:\n  - name: qty_kg\n    from: qty\n    unit: unit\n    factors: {kg: 1, lb: 0.45}\n"
    )
    _write(tmp_path, _MINIMAL.format(name="things", marking="amber", extra=extra))
    with pytest.raises(ContractError, match=r"conversion 'qty_kg': factors for \['lb'\]"):
        load_contracts(tmp_path)


def _spellings() -> list[str]:
    """Every seizures header spelling (read once, when the tests are collected)."""
    contract = load_contracts()["seizures"]
    return [s for spec in contract.columns for s in spec.header_spellings]


_SEIZURE_SPELLINGS = _spellings()


@settings(max_examples=150, deadline=None)
@given(
    headers=st.lists(
        st.one_of(
            st.sampled_from(_SEIZURE_SPELLINGS).map(str.upper),
            st.sampled_from(_SEIZURE_SPELLINGS),
            st.text(max_size=15),
        ),
        max_size=20,
    )
)
def test_header_matching_partitions_every_position(seizures: Contract, headers: list[str]) -> None:
    try:
        match = match_headers(seizures, headers)
    except DropRejected as rejected:
        assert rejected.code in {"ambiguous_headers", "missing_columns"}
        return
    assert set(match.mapping) | set(match.extras) == set(range(len(headers)))
    assert not set(match.mapping) & set(match.extras)
    assert len(set(match.mapping.values())) == len(match.mapping)  # no column twice
    assert set(seizures.required_columns) <= set(match.mapping.values())
    for position, column in match.mapping.items():
        assert seizures.header_index[normalise_header(headers[position])] == column
    assert all(match.extras[p] == headers[p] for p in match.extras)  # kept as sent


def test_a_contract_without_marking_is_red(tmp_path: Path) -> None:
    _write(
        tmp_path,
        _MINIMAL.format(name="things", marking="amber", extra="").replace("marking: amber\n", ""),
    )
    assert load_contracts(tmp_path)["things"].marking is Marking.RED
