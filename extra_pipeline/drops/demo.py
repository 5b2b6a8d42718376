"""Synthetic demonstration drops for the member-state landing area.

THIS IS SYNTHETIC DEMONSTRATION DATA. No row describes a real seizure, network, person,
case or reference: every value is drawn from a seeded random generator over the tables
below, which only encode the *shape* of well-known, publicly described EU-bound flows
(cocaine in sea containers from South America, cannabis resin from Morocco, heroin along
the Balkan route, precursors from China and India, firearms from the Western Balkans...).
References look like ``ES-2025-000123`` and contacts are fictitious units at example.org.
Every sidecar says ``"synthetic": true``, so everything built from these files carries
the "contains synthetic demonstration data" banner.

`write_demo_drops` writes, into ``incoming/<CC>/``, the files several national
authorities would send, each in its own conventions, so that a first run shows every part
of drop ingestion at work:

- ``seizures`` from ES (CSV, UTF-8, ``;``, decimal comma, DD/MM/YYYY, Spanish headers),
  sent twice for the same period, the second a corrected re-send that supersedes the
  first; NL (XLSX with real date and number cells, Dutch headers); BE (CSV in
  Windows-1252 with French headers and country names); DE (CSV, UTF-8 with BOM, ``,``,
  DD.MM.YYYY, German headers); IT (JSON ``{"seizures": [...]}``); PT (CSV, ISO dates);
- ``criminal_networks`` from FR (CSV, oui/non), NL (XLSX, 1/0 cells), DE (CSV, ja/nein)
  and IT (JSON booleans);
- about 1-2 % deliberately bad rows of several kinds (see `DEFECT_RULES`), and rows whose
  free text is markup or spreadsheet-formula text, which are valid and kept as data.

Output is deterministic: the same ``today`` and ``seed`` give byte-identical files.
`build_demo_drops` returns the same drops in memory with what was planted where, for
tests and for the demo's own documentation.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook

__all__ = [
    "COUNTRIES",
    "DEFECT_RULES",
    "FLOWS",
    "MARKET_FORMS",
    "MARKING",
    "NETWORK_COLUMNS",
    "SEIZURE_COLUMNS",
    "SENDERS",
    "SIDECAR_SUFFIX",
    "DemoDrop",
    "build_demo_drops",
    "write_demo_drops",
]

MARKING = "TLP:AMBER"
SIDECAR_SUFFIX = ".meta.json"  # the same as ingest.SIDECAR_SUFFIX (not imported: no warehouse deps)

#: What each planted defect breaks: the quarantine rule(s) it must be reported under.
DEFECT_RULES: Mapping[str, frozenset[str]] = {
    "empty_required": frozenset({"required"}),
    "bad_date": frozenset({"date"}),  # 31 February
    "future_date": frozenset({"date_range"}),
    "negative_quantity": frozenset({"minimum"}),
    "unknown_unit": frozenset({"enum"}),  # "sacks"
    "unknown_market": frozenset({"market"}),  # "tulips"
    "not_a_country": frozenset({"country"}),  # "Atlantis", "Europe"
    "duplicate_ref": frozenset({"unique"}),
    "bad_enum": frozenset({"enum"}),  # threat level "critical", size band "ca. 30"
    "bad_boolean": frozenset({"boolean"}),  # "maybe"
}

Weights = tuple[tuple[str, float], ...]
Format = Literal["csv", "xlsx", "json"]


def _w(spec: str) -> Weights:
    """``"COL:4 PER:1"`` -> ``(("COL", 4.0), ("PER", 1.0))``: weights stay one readable line."""
    pairs = (item.rsplit(":", 1) for item in spec.split())
    return tuple((key, float(weight)) for key, weight in pairs)


# --------------------------------------------------------------------------- reference tables

#: Countries as each authority writes them: iso3 -> (iso2, English, Spanish, French, German).
#: Mostly CLDR names (what the harmoniser knows), with the everyday form where CLDR is
#: formal ("Hong Kong", "Bosnia and Herzegovina"). A test checks each resolves to its iso3.
COUNTRIES: Mapping[str, tuple[str, str, str, str, str]] = {
    # South America, Central America and the Caribbean
    "COL": ("CO", "Colombia", "Colombia", "Colombie", "Kolumbien"),
    "ECU": ("EC", "Ecuador", "Ecuador", "Équateur", "Ecuador"),
    "PER": ("PE", "Peru", "Perú", "Pérou", "Peru"),
    "BOL": ("BO", "Bolivia", "Bolivia", "Bolivie", "Bolivien"),
    "BRA": ("BR", "Brazil", "Brasil", "Brésil", "Brasilien"),
    "PRY": ("PY", "Paraguay", "Paraguay", "Paraguay", "Paraguay"),
    "PAN": ("PA", "Panama", "Panamá", "Panama", "Panama"),
    "CRI": ("CR", "Costa Rica", "Costa Rica", "Costa Rica", "Costa Rica"),
    "DOM": ("DO", "Dominican Republic", "República Dominicana", "République dominicaine", "Dominikanische Republik"),
    "VEN": ("VE", "Venezuela", "Venezuela", "Venezuela", "Venezuela"),
    "GUY": ("GY", "Guyana", "Guyana", "Guyana", "Guyana"),
    "SUR": ("SR", "Suriname", "Surinam", "Suriname", "Suriname"),
    "MEX": ("MX", "Mexico", "México", "Mexique", "Mexiko"),
    # North and West Africa
    "MAR": ("MA", "Morocco", "Marruecos", "Maroc", "Marokko"),
    "DZA": ("DZ", "Algeria", "Argelia", "Algérie", "Algerien"),
    "TUN": ("TN", "Tunisia", "Túnez", "Tunisie", "Tunesien"),
    "LBY": ("LY", "Libya", "Libia", "Libye", "Libyen"),
    "EGY": ("EG", "Egypt", "Egipto", "Égypte", "Ägypten"),
    "SEN": ("SN", "Senegal", "Senegal", "Sénégal", "Senegal"),
    "MRT": ("MR", "Mauritania", "Mauritania", "Mauritanie", "Mauretanien"),
    "NGA": ("NG", "Nigeria", "Nigeria", "Nigeria", "Nigeria"),
    # Middle East and Asia
    "AFG": ("AF", "Afghanistan", "Afganistán", "Afghanistan", "Afghanistan"),
    "IRN": ("IR", "Iran", "Irán", "Iran", "Iran"),
    "PAK": ("PK", "Pakistan", "Pakistán", "Pakistan", "Pakistan"),
    "TUR": ("TR", "Türkiye", "Turquía", "Turquie", "Türkei"),
    "SYR": ("SY", "Syria", "Siria", "Syrie", "Syrien"),
    "LBN": ("LB", "Lebanon", "Líbano", "Liban", "Libanon"),
    "ARE": ("AE", "United Arab Emirates", "Emiratos Árabes Unidos", "Émirats arabes unis", "Vereinigte Arabische Emirate"),
    "CHN": ("CN", "China", "China", "Chine", "China"),
    "HKG": ("HK", "Hong Kong", "Hong Kong", "Hong Kong", "Hong Kong"),
    "IND": ("IN", "India", "India", "Inde", "Indien"),
    "VNM": ("VN", "Vietnam", "Vietnam", "Vietnam", "Vietnam"),
    "GEO": ("GE", "Georgia", "Georgia", "Géorgie", "Georgien"),
    "RUS": ("RU", "Russia", "Rusia", "Russie", "Russland"),
    # Western Balkans and Eastern neighbourhood
    "SRB": ("RS", "Serbia", "Serbia", "Serbie", "Serbien"),
    "BIH": ("BA", "Bosnia and Herzegovina", "Bosnia y Herzegovina", "Bosnie-Herzégovine", "Bosnien und Herzegowina"),
    "MNE": ("ME", "Montenegro", "Montenegro", "Monténégro", "Montenegro"),
    "ALB": ("AL", "Albania", "Albania", "Albanie", "Albanien"),
    "MKD": ("MK", "North Macedonia", "Macedonia del Norte", "Macédoine du Nord", "Nordmazedonien"),
    "XKX": ("XK", "Kosovo", "Kosovo", "Kosovo", "Kosovo"),
    "BLR": ("BY", "Belarus", "Bielorrusia", "Biélorussie", "Belarus"),
    "UKR": ("UA", "Ukraine", "Ucrania", "Ukraine", "Ukraine"),
    "GBR": ("GB", "United Kingdom", "Reino Unido", "Royaume-Uni", "Vereinigtes Königreich"),
    # EU member states
    "ESP": ("ES", "Spain", "España", "Espagne", "Spanien"),
    "NLD": ("NL", "Netherlands", "Países Bajos", "Pays-Bas", "Niederlande"),
    "BEL": ("BE", "Belgium", "Bélgica", "Belgique", "Belgien"),
    "DEU": ("DE", "Germany", "Alemania", "Allemagne", "Deutschland"),
    "ITA": ("IT", "Italy", "Italia", "Italie", "Italien"),
    "PRT": ("PT", "Portugal", "Portugal", "Portugal", "Portugal"),
    "FRA": ("FR", "France", "Francia", "France", "Frankreich"),
    "GRC": ("GR", "Greece", "Grecia", "Grèce", "Griechenland"),
    "BGR": ("BG", "Bulgaria", "Bulgaria", "Bulgarie", "Bulgarien"),
    "ROU": ("RO", "Romania", "Rumanía", "Roumanie", "Rumänien"),
    "HRV": ("HR", "Croatia", "Croacia", "Croatie", "Kroatien"),
    "SVN": ("SI", "Slovenia", "Eslovenia", "Slovénie", "Slowenien"),
    "AUT": ("AT", "Austria", "Austria", "Autriche", "Österreich"),
    "HUN": ("HU", "Hungary", "Hungría", "Hongrie", "Ungarn"),
    "POL": ("PL", "Poland", "Polonia", "Pologne", "Polen"),
    "LTU": ("LT", "Lithuania", "Lituania", "Lituanie", "Litauen"),
    "SVK": ("SK", "Slovakia", "Eslovaquia", "Slovaquie", "Slowakei"),
    "CZE": ("CZ", "Czechia", "Chequia", "Tchéquie", "Tschechien"),
    "IRL": ("IE", "Ireland", "Irlanda", "Irlande", "Irland"),
}  # fmt: skip
_COUNTRY_STYLE_INDEX = {"iso2": 0, "en": 1, "es": 2, "fr": 3, "de": 4}

#: Market code -> (label as in markets.csv, short forms listed there as aliases).
MARKET_FORMS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "cocaine_trade": ("Cocaine trade", ("cocaine",)),
    "cannabis_trade": ("Cannabis trade", ("cannabis", "hashish", "cannabis resin")),
    "heroin_trade": ("Heroin trade", ("heroin",)),
    "synthetic_drug_trade": ("Synthetic drug trade", ("synthetic drugs", "drug precursors")),
    "arms_trafficking": ("Arms trafficking", ("firearms", "weapons")),
    "counterfeit_goods": ("Trade in counterfeit goods", ("counterfeit goods", "counterfeits")),
    "excise_goods": (
        "Illicit trade in excisable goods",
        ("cigarette smuggling", "illicit tobacco"),
    ),
    "fauna_crimes": ("Fauna crimes", ("glass eels", "wildlife trafficking")),
    "human_smuggling": ("Human smuggling", ("migrant smuggling", "people smuggling")),
    "human_trafficking": ("Human trafficking", ("trafficking in human beings", "THB")),
    "financial_crimes": ("Financial crimes", ("fraud", "investment fraud")),
    "extortion_racketeering": ("Extortion and protection racketeering", ("extortion",)),
    "cyber_dependent_crimes": ("Cyber-dependent crimes", ("ransomware", "cybercrime")),
}

#: Transport modes and units in the authorities' languages (all accepted by the contract).
MODE_WORDS: Mapping[str, Mapping[str, str]] = {
    "es": {"sea": "marítimo", "air": "aéreo", "road": "carretera", "rail": "ferrocarril", "postal": "correo"},
    "nl": {"sea": "zee", "air": "lucht", "road": "weg", "rail": "spoor", "postal": "post"},
    "fr": {"sea": "maritime", "air": "aérien", "road": "routier", "rail": "ferroviaire", "postal": "voie postale"},
    "de": {"sea": "See", "air": "Luft", "road": "Straße", "rail": "Schiene", "postal": "Post"},
}  # fmt: skip
UNIT_WORDS: Mapping[str, Mapping[str, str]] = {
    "es": {"units": "unidades", "tablets": "comprimidos"},
    "nl": {"units": "stuks", "tablets": "tabletten"},
    "fr": {"units": "unités", "tablets": "comprimés"},
    "de": {"units": "Stück", "tablets": "Tabletten"},
}


# --------------------------------------------------------------------------- seizure flows


@dataclass(frozen=True)
class Flow:
    """One typical flow towards the EU, as national seizure records show it."""

    market: str  # GI-TOC market code
    mode: str  # the contract's transport mode
    unit: str  # the contract's unit
    #: quantity in `unit`: lognormal median and log-sigma, clipped to [low, high]
    quantity: tuple[float, float, float, float]
    origins: Weights  # "SELF" is the reporting state
    commodity: Mapping[str, tuple[str, ...]]  # language -> how the goods are described
    departures: Weights | None = None  # None: it leaves from the origin country
    #: candidate routes, space-separated iso3 ("" = direct); repeat one to make it likelier
    transits: tuple[str, ...] = ("",)
    destinations: Weights | None = None  # None: the reporting state, sometimes onward
    short: tuple[str, ...] = ()  # short market forms for this flow (default: the market's)
    arrests: float = 1.0  # mean arrests per seizure
    #: a small share of record seizures far above the usual (the long tail)
    record_share: float = 0.0


FLOWS: Mapping[str, Flow] = {
    "cocaine_sea": Flow(
        market="cocaine_trade", mode="sea", unit="kg", quantity=(320, 1.0, 50, 8000),
        origins=_w("COL:40 PER:12 BOL:8 ECU:18 BRA:6 PRY:3 PAN:4 CRI:3 DOM:4"),
        departures=_w("ECU:34 COL:16 BRA:12 PAN:8 CRI:7 DOM:6 PRY:5 PER:5 VEN:3 GUY:2 SUR:2"),
        transits=("", "", "", "", "", "PAN", "DOM", "ESP", "PRT", "PAN ESP"),
        short=("cocaine",), arrests=1.2, record_share=0.03,
        commodity={
            "en": ("cocaine hydrochloride", "cocaine in a banana container",
                   "cocaine, rip-on/rip-off in a reefer container", "cocaine hidden in frozen fish"),
            "es": ("clorhidrato de cocaína", "cocaína en contenedor de plátanos",
                   "cocaína, método rip-off en contenedor refrigerado", "cocaína oculta en pescado congelado"),
            "fr": ("chlorhydrate de cocaïne", "cocaïne dans un conteneur de bananes",
                   "cocaïne, méthode rip-off, conteneur frigorifique", "cocaïne dissimulée dans du poisson congelé"),
            "de": ("Kokainhydrochlorid", "Kokain in einem Bananencontainer",
                   "Kokain, Rip-off im Kühlcontainer", "Kokain in einer Kaffeeladung versteckt"),
        },
    ),
    "cocaine_air": Flow(
        market="cocaine_trade", mode="air", unit="kg", quantity=(3.5, 0.7, 0.4, 40),
        origins=_w("BRA:30 COL:20 PER:10 DOM:10 VEN:8 BOL:5 PAN:5 CRI:4 ECU:5"),
        transits=("", "", "", "PRT", "ESP", "PAN"), short=("cocaine",), arrests=1.1,
        commodity={
            "en": ("cocaine, body-packed (ingested)", "cocaine in suitcase lining", "cocaine in checked luggage"),
            "es": ("cocaína ingerida (bolas)", "cocaína en doble fondo de maleta", "cocaína en equipaje facturado"),
            "fr": ("cocaïne ingérée (boulettes)", "cocaïne dans la doublure d'une valise", "cocaïne en bagage de soute"),
            "de": ("Kokain, verschluckt (Bodypacker)", "Kokain im Kofferfutter", "Kokain im Reisegepäck"),
        },
    ),
    "cocaine_postal": Flow(
        market="cocaine_trade", mode="postal", unit="g", quantity=(120, 1.0, 5, 2500),
        origins=_w("BRA:3 COL:3 PER:2 ECU:1 DOM:1"), short=("cocaine",), arrests=0.3,
        commodity={
            "en": ("cocaine in a postal parcel", "cocaine in greeting cards"),
            "es": ("cocaína en paquete postal", "cocaína en tarjetas de felicitación"),
            "fr": ("cocaïne dans un colis postal", "cocaïne dans des cartes de vœux"),
            "de": ("Kokain in einem Postpaket", "Kokain in Grußkarten"),
        },
    ),
    "cannabis_resin_sea": Flow(
        market="cannabis_trade", mode="sea", unit="kg", quantity=(900, 1.0, 30, 25000),
        origins=_w("MAR:1"), short=("hashish", "cannabis", "cannabis resin"), arrests=2.0,
        commodity={
            "en": ("cannabis resin (hashish) bales", "hashish on a go-fast boat"),
            "es": ("fardos de hachís", "hachís en narcolancha"),
            "fr": ("ballots de résine de cannabis", "résine de cannabis sur un go-fast"),
            "de": ("Haschischballen", "Haschisch auf einem Schnellboot"),
        },
    ),
    "cannabis_resin_road": Flow(
        market="cannabis_trade", mode="road", unit="kg", quantity=(150, 1.1, 5, 4000),
        origins=_w("MAR:1"), transits=("ESP", "ESP FRA", "ESP FRA"),
        short=("hashish", "cannabis"), arrests=1.3,
        commodity={
            "en": ("hashish in a lorry of fresh vegetables", "cannabis resin in a car's hidden compartment"),
            "es": ("hachís en un camión de verduras", "hachís en doble fondo de turismo"),
            "fr": ("résine de cannabis dans un camion de légumes", "résine de cannabis dans une cache de voiture"),
            "de": ("Haschisch in einem Gemüse-Lkw", "Haschisch in einem Pkw-Versteck"),
        },
    ),
    "cannabis_herbal_sea": Flow(
        market="cannabis_trade", mode="sea", unit="kg", quantity=(400, 0.9, 20, 5000),
        origins=_w("ALB:1"), short=("cannabis", "marijuana"), arrests=1.5,
        commodity={
            "en": ("herbal cannabis on a speedboat across the Adriatic", "herbal cannabis in a ferry lorry"),
            "es": ("marihuana en lancha rápida",), "fr": ("herbe de cannabis sur un hors-bord",),
            "de": ("Marihuana auf einem Schnellboot",),
        },
    ),
    "heroin_road": Flow(
        market="heroin_trade", mode="road", unit="kg", quantity=(25, 0.9, 1, 600),
        origins=_w("AFG:1"), departures=_w("TUR:7 IRN:3"),
        # the Balkan route and its branches, starting in Türkiye
        transits=("TUR BGR SRB HUN AUT", "TUR BGR SRB HRV SVN", "TUR GRC MKD SRB HUN",
                  "TUR BGR ROU HUN AUT", "TUR GRC"),
        short=("heroin",), arrests=1.6,
        commodity={
            "en": ("heroin in a lorry's fuel tank", "heroin hidden in a load of dried fruit"),
            "es": ("heroína en el depósito de un camión", "heroína oculta en fruta deshidratada"),
            "fr": ("héroïne dans le réservoir d'un camion", "héroïne dissimulée dans des fruits secs"),
            "de": ("Heroin im Tank eines Lkw", "Heroin in einer Ladung Trockenobst"),
        },
    ),
    "precursors_air": Flow(
        market="synthetic_drug_trade", mode="air", unit="kg", quantity=(250, 1.0, 5, 4000),
        origins=_w("CHN:7 IND:3"), transits=("", "", "ARE", "TUR"),
        short=("drug precursors", "synthetic drugs"), arrests=0.5,
        commodity={
            "en": ("BMK glycidate (amphetamine precursor)", "PMK glycidate (MDMA precursor)", "APAA (precursor)"),
            "es": ("glicidato de BMK (precursor)", "glicidato de PMK (precursor)", "APAA (precursor)"),
            "fr": ("glycidate de BMK (précurseur)", "glycidate de PMK (précurseur)", "APAA (précurseur)"),
            "de": ("BMK-Glycidat (Grundstoff)", "PMK-Glycidat (Grundstoff)", "APAA (Grundstoff)"),
        },
    ),
    "synthetic_postal": Flow(
        market="synthetic_drug_trade", mode="postal", unit="g", quantity=(300, 1.2, 2, 5000),
        origins=_w("CHN:5 IND:5"), short=("synthetic drugs", "NPS"), arrests=0.2,
        commodity={
            "en": ("nitazene powder (synthetic opioid)", "synthetic cathinone (3-MMC)", "ketamine"),
            "es": ("nitaceno en polvo (opioide sintético)", "catinona sintética (3-MMC)", "ketamina"),
            "fr": ("nitazène en poudre (opioïde de synthèse)", "cathinone de synthèse (3-MMC)", "kétamine"),
            "de": ("Nitazen-Pulver (synthetisches Opioid)", "synthetisches Cathinon (3-MMC)", "Ketamin"),
        },
    ),
    "tramadol_postal": Flow(
        market="synthetic_drug_trade", mode="postal", unit="tablets", quantity=(600, 1.0, 20, 40000),
        origins=_w("IND:1"), short=("synthetic drugs",), arrests=0.1,
        commodity={
            "en": ("tramadol tablets, 225 mg",), "es": ("comprimidos de tramadol 225 mg",),
            "fr": ("comprimés de tramadol 225 mg",), "de": ("Tramadol-Tabletten 225 mg",),
        },
    ),
    "captagon_sea": Flow(
        market="synthetic_drug_trade", mode="sea", unit="tablets",
        quantity=(400_000, 1.3, 10_000, 14_000_000),
        origins=_w("SYR:1"), departures=_w("LBN:5 SYR:3 TUR:1"), short=("captagon", "synthetic drugs"),
        arrests=0.4,
        commodity={
            "en": ("captagon tablets in industrial paper rolls",), "es": ("comprimidos de captagon",),
            "fr": ("comprimés de captagon",), "de": ("Captagon-Tabletten",),
        },
    ),
    "firearms_road": Flow(
        market="arms_trafficking", mode="road", unit="units", quantity=(3, 0.9, 1, 80),
        origins=_w("SRB:30 BIH:25 MNE:10 ALB:12 MKD:12 XKX:6 UKR:5"),
        transits=("HRV SVN AUT", "HUN AUT", "HRV SVN", "HRV SVN ITA", "HUN SVK CZE"),
        short=("firearms", "weapons"), arrests=1.5,
        commodity={
            "en": ("assault rifles (Zastava M70)", "semi-automatic pistols", "converted alarm pistols",
                   "hand grenades (M75)"),
            "es": ("fusiles de asalto (Zastava M70)", "pistolas semiautomáticas", "pistolas detonadoras modificadas"),
            "fr": ("fusils d'assaut (Zastava M70)", "pistolets semi-automatiques", "pistolets d'alarme convertis",
                   "grenades à main (M75)"),
            "de": ("Sturmgewehre (Zastava M70)", "halbautomatische Pistolen", "umgebaute Schreckschusswaffen",
                   "Handgranaten (M75)"),
        },
    ),
    "counterfeit_sea": Flow(
        market="counterfeit_goods", mode="sea", unit="units", quantity=(6000, 1.3, 200, 600_000),
        origins=_w("CHN:7 TUR:2 HKG:1"), transits=("", "", "", "ARE"),
        short=("counterfeit goods", "counterfeits"), arrests=0.3,
        commodity={
            "en": ("counterfeit sportswear", "counterfeit handbags", "counterfeit toys (unsafe)",
                   "counterfeit car parts"),
            "es": ("ropa deportiva falsificada", "bolsos falsificados", "juguetes falsificados"),
            "fr": ("vêtements de sport contrefaits", "sacs à main contrefaits", "jouets contrefaits"),
            "de": ("gefälschte Sportbekleidung", "gefälschte Handtaschen", "gefälschte Kfz-Ersatzteile"),
        },
    ),
    "counterfeit_medicines_air": Flow(
        market="counterfeit_goods", mode="air", unit="tablets", quantity=(5000, 1.2, 100, 400_000),
        origins=_w("IND:6 CHN:4"), short=("counterfeit goods",), arrests=0.2,
        commodity={
            "en": ("falsified medicines (tablets)",), "es": ("medicamentos falsificados",),
            "fr": ("médicaments falsifiés",), "de": ("gefälschte Arzneimittel",),
        },
    ),
    "tobacco_road": Flow(
        market="excise_goods", mode="road", unit="units", quantity=(900_000, 1.0, 20_000, 12_000_000),
        origins=_w("BLR:6 UKR:4"), transits=("LTU POL", "POL", "POL", "HUN", "ROU HUN", "LTU"),
        short=("cigarette smuggling", "illicit tobacco"), arrests=1.0,
        commodity={
            "en": ("cigarettes (sticks) without tax stamps", "cigarettes under a timber load"),
            "es": ("cigarrillos sin precinto fiscal",),
            "fr": ("cigarettes sans timbre fiscal", "cigarettes cachées sous du bois"),
            "de": ("Zigaretten ohne Steuerzeichen", "Zigaretten unter einer Holzladung"),
        },
    ),
    "tobacco_rail": Flow(
        market="excise_goods", mode="rail", unit="units", quantity=(1_500_000, 0.9, 50_000, 12_000_000),
        origins=_w("BLR:7 UKR:3"), transits=("POL", "LTU POL"), short=("cigarette smuggling",),
        arrests=0.5,
        commodity={
            "en": ("cigarettes in a freight wagon",), "es": ("cigarrillos en vagón de mercancías",),
            "fr": ("cigarettes dans un wagon de fret",), "de": ("Zigaretten in einem Güterwaggon",),
        },
    ),
    "glass_eels_air": Flow(
        market="fauna_crimes", mode="air", unit="kg", quantity=(35, 0.9, 2, 400),
        origins=_w("SELF:1"), destinations=_w("HKG:5 CHN:4"), transits=("", "", "ARE", "TUR", "MAR"),
        short=("glass eels", "wildlife trafficking"), arrests=1.4,
        commodity={
            "en": ("live glass eels (Anguilla anguilla) in suitcases",),
            "es": ("angulas vivas (Anguilla anguilla) en maletas",),
            "fr": ("civelles vivantes (Anguilla anguilla) en valises",),
            "de": ("lebende Glasaale (Anguilla anguilla) in Koffern",),
        },
    ),
    "migrant_sea_central": Flow(
        market="human_smuggling", mode="sea", unit="units", quantity=(35, 0.9, 2, 400),
        origins=_w("LBY:6 TUN:4 TUR:2 EGY:1"), destinations=_w("SELF:1"),
        short=("migrant smuggling", "people smuggling"), arrests=2.0,
        commodity={
            "en": ("persons on a fishing boat", "persons on an inflatable boat", "persons on a sailing yacht"),
            "es": ("personas en una embarcación",), "fr": ("personnes sur une embarcation",),
            "de": ("Personen auf einem Boot",),
        },
    ),
    "migrant_sea_western": Flow(
        market="human_smuggling", mode="sea", unit="units", quantity=(20, 0.9, 2, 250),
        origins=_w("MAR:5 DZA:4 SEN:3 MRT:2"), destinations=_w("SELF:1"),
        short=("migrant smuggling",), arrests=1.8,
        commodity={
            "en": ("persons on a small boat",), "es": ("personas en patera", "personas en cayuco"),
            "fr": ("personnes sur une embarcation",), "de": ("Personen auf einem Boot",),
        },
    ),
    "migrant_road_balkan": Flow(
        market="human_smuggling", mode="road", unit="units", quantity=(8, 0.8, 1, 60),
        origins=_w("TUR:1"),
        transits=("BGR SRB HUN AUT", "GRC MKD SRB HUN AUT", "BGR ROU HUN AUT", "BGR SRB HRV SVN AUT"),
        destinations=_w("SELF:3 DEU:2 FRA:1 BEL:1"), short=("migrant smuggling",), arrests=1.2,
        commodity={
            "en": ("persons in a delivery van",), "es": ("personas en una furgoneta",),
            "fr": ("personnes dans une camionnette",), "de": ("Personen in einem Transporter",),
        },
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- senders

SEIZURE_COLUMNS = (
    "seizure_ref", "seizure_date", "market", "commodity", "quantity", "unit", "origin_country",
    "departure_country", "destination_country", "transit_countries", "transport_mode",
    "location", "arrests",
)  # fmt: skip
NETWORK_COLUMNS = (
    "network_ref", "assessment_date", "principal_markets", "base_country", "countries_active",
    "member_count_band", "nationalities", "uses_legal_business", "uses_violence",
    "uses_corruption", "money_laundering_methods", "threat_level", "hvt",
)  # fmt: skip


@dataclass(frozen=True)
class Sender:
    """How one authority writes one dataset: format, encoding, headers and conventions."""

    cc: str  # ISO 3166 alpha-2 of the reporting state (its incoming/ folder)
    iso3: str
    dataset: str
    file_stem: str  # completed with the period
    format: Format
    rows: int
    period: Literal["year", "quarter"]
    headers: tuple[str, ...]  # in the order of SEIZURE_COLUMNS / NETWORK_COLUMNS
    contact: str
    encoding: str = "utf-8"  # "utf-8-sig" writes a BOM
    delimiter: str = ","
    lineterminator: str = "\r\n"
    date_format: str = "%Y-%m-%d"  # text dates; XLSX writes date cells, JSON ISO text
    decimal_comma: bool = False
    thousands: str = ""  # grouping for numbers of 10,000 and more ("" = none)
    countries: str = "en"  # iso2 | iso3 | en | es | fr | de
    language: str = "en"  # of commodity texts, transport modes and units
    markets: Weights = (("code", 1.0),)  # which market form: code | label | short
    list_separator: str = ";"
    tonnes_from_kg: float | None = None  # writes t above this many kg (some do)
    # seizures
    flows: Weights = ()
    locations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # flow or mode ->
    onward: Weights = (("DEU", 1.0),)  # other destinations than the reporting state
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # flow -> fields
    # networks
    booleans: tuple[Any, Any] = ("yes", "no")
    threat_words: Mapping[str, str] = field(default_factory=dict)
    laundering_words: Mapping[str, str] = field(default_factory=dict)
    # planted problems (kinds of DEFECT_RULES) and valid-but-hostile free text
    defects: tuple[str, ...] = ()
    not_a_country: str = "Atlantis"  # or a region: "Europe" resolves, but not to a country
    hostile: tuple[str, ...] = ()


SENDERS: tuple[Sender, ...] = (
    Sender(
        cc="ES", iso3="ESP", dataset="seizures", file_stem="incautaciones", format="csv",
        rows=320, period="year", delimiter=";", date_format="%d/%m/%Y", decimal_comma=True,
        thousands=".", countries="es", language="es", markets=_w("short:8 label:1 code:1"),
        contact="Unidad Central de Análisis (ficticia) <uca-demo@example.org>",
        headers=("Referencia de la incautación", "Fecha de incautación", "Mercado", "Producto",
                 "Cantidad", "Unidad", "País de origen", "País de salida", "País de destino",
                 "Países de tránsito", "Modo de transporte", "Lugar", "Detenidos"),
        flows=_w("cocaine_sea:26 cocaine_air:7 cocaine_postal:3 cannabis_resin_sea:30 "
                 "migrant_sea_western:10 glass_eels_air:4 heroin_road:1 precursors_air:3 "
                 "synthetic_postal:3 counterfeit_sea:8 firearms_road:2"),
        locations={
            "sea": ("Algeciras (ESALG)", "Algeciras (ESALG)", "Valencia (ESVLC)", "Barcelona (ESBCN)",
                    "Huelva (ESHUV)", "Cádiz"),
            "cannabis_resin_sea": ("Cádiz", "Huelva (ESHUV)", "Algeciras (ESALG)", "Almería", "Málaga"),
            "migrant_sea_western": ("Arguineguín, Gran Canaria", "La Restinga, El Hierro", "Almería",
                                    "Motril"),
            "air": ("Aeropuerto Madrid-Barajas", "Aeropuerto de Barcelona-El Prat"),
            "postal": ("Centro de Tratamiento Postal, Madrid",),
            "road": ("La Jonquera (A-7)", "Algeciras, terminal de ferris"),
        },
        onward=_w("FRA:3 NLD:2 ITA:2 BEL:1 GBR:1"),
        defects=("bad_date", "duplicate_ref", "not_a_country", "negative_quantity", "unknown_unit"),
        hostile=("<script>alert(1)</script>",),
    ),
    Sender(
        cc="NL", iso3="NLD", dataset="seizures", file_stem="inbeslagnames", format="xlsx",
        rows=280, period="quarter", countries="iso2", language="nl", markets=_w("code:1"),
        tonnes_from_kg=2000,
        contact="Fictieve Analyse-eenheid Drugs <drugs-analyse-demo@example.org>",
        headers=("Referentie inbeslagneming", "Datum inbeslagneming", "Markt", "Goederen",
                 "Hoeveelheid", "Eenheid", "Land van herkomst", "Land van vertrek",
                 "Land van bestemming", "Transitlanden", "Vervoerswijze", "Plaats",
                 "Aantal arrestaties"),
        flows=_w("cocaine_sea:34 cocaine_air:6 cocaine_postal:4 precursors_air:12 "
                 "synthetic_postal:6 tramadol_postal:2 cannabis_resin_road:6 heroin_road:3 "
                 "firearms_road:5 counterfeit_sea:8 tobacco_road:5"),
        locations={
            "sea": ("NLRTM", "NLRTM", "NLRTM", "NLRTM", "NLVLI", "NLAMS"),
            "air": ("Schiphol", "Schiphol (vracht)"), "postal": ("Schiphol postcentrum",),
            "road": ("A16 Hazeldonk", "A12 Zevenaar", "A67 Venlo"),
        },
        onward=_w("DEU:3 BEL:2 GBR:2 FRA:1 IRL:1"),
        defects=("empty_required", "future_date", "unknown_unit"),
    ),
    Sender(
        cc="BE", iso3="BEL", dataset="seizures", file_stem="saisies", format="csv",
        rows=360, period="year", encoding="cp1252", delimiter=";", date_format="%d/%m/%Y",
        decimal_comma=True, thousands="\u00a0", countries="fr", language="fr",
        markets=_w("label:6 short:4"),
        contact="Cellule d'analyse fictive <cellule-analyse-demo@example.org>",
        headers=("référence de la saisie", "date de saisie", "marché", "produit", "quantité",
                 "unité", "pays d'origine", "pays de départ", "pays de destination",
                 "pays de transit", "mode de transport", "lieu", "arrestations"),
        flows=_w("cocaine_sea:42 cocaine_air:4 precursors_air:8 synthetic_postal:4 "
                 "counterfeit_sea:10 counterfeit_medicines_air:3 tobacco_road:9 "
                 "cannabis_resin_road:8 firearms_road:6 heroin_road:4 migrant_road_balkan:2"),
        locations={
            "sea": ("Port d'Anvers (BEANR)", "Port d'Anvers (BEANR)", "Port d'Anvers (BEANR)",
                    "Zeebrugge (BEZEE)"),
            "air": ("Aéroport de Bruxelles-National", "Liège Airport (fret)"),
            "postal": ("Centre de tri Bruxelles X",),
            "road": ("E19 Hazeldonk", "E40 Eynatten", "E411 Sterpenich"),
        },
        onward=_w("NLD:3 FRA:3 DEU:2 GBR:1"),
        defects=("unknown_market", "not_a_country", "empty_required", "duplicate_ref",
                 "future_date"),
        not_a_country="Europe",
    ),
    Sender(
        cc="DE", iso3="DEU", dataset="seizures", file_stem="sicherstellungen", format="csv",
        rows=240, period="year", encoding="utf-8-sig", delimiter=",", lineterminator="\n",
        date_format="%d.%m.%Y", countries="de", language="de", markets=_w("label:5 short:5"),
        tonnes_from_kg=2500,
        contact="Fiktive Auswertungsstelle OK <auswertung-demo@example.org>",
        headers=("Sicherstellungsnummer", "Datum der Sicherstellung", "Markt", "Ware", "Menge",
                 "Einheit", "Herkunftsland", "Abgangsland", "Bestimmungsland", "Transitländer",
                 "Verkehrsträger", "Ort", "Festnahmen"),
        flows=_w("cocaine_sea:22 cocaine_postal:4 heroin_road:14 firearms_road:12 tobacco_road:10 "
                 "tobacco_rail:5 synthetic_postal:8 tramadol_postal:3 precursors_air:4 "
                 "migrant_road_balkan:10 cannabis_resin_road:5 counterfeit_sea:4"),
        locations={
            "sea": ("Hamburger Hafen (DEHAM)", "Hamburger Hafen (DEHAM)", "Bremerhaven (DEBRV)"),
            "air": ("Flughafen Frankfurt am Main", "Flughafen München"),
            "postal": ("Internationales Postzentrum Frankfurt", "Paketzentrum Leipzig"),
            "road": ("BAB 3, Passau-Suben", "BAB 8, Bad Reichenhall", "BAB 12, Frankfurt (Oder)",
                     "BAB 17, Breitenau"),
            "rail": ("Güterbahnhof Frankfurt (Oder)",),
        },
        onward=_w("NLD:2 POL:1 AUT:1 FRA:1"),
        defects=("bad_date", "future_date", "negative_quantity", "not_a_country"),
    ),
    Sender(
        cc="IT", iso3="ITA", dataset="seizures", file_stem="sequestri", format="json",
        rows=210, period="quarter", countries="iso3", markets=_w("code:9 short:1"),
        contact="Unità di analisi fittizia <analisi-demo@example.org>",
        headers=SEIZURE_COLUMNS, list_separator="; ",
        flows=_w("cocaine_sea:28 cocaine_air:4 migrant_sea_central:18 heroin_road:8 firearms_road:7 "
                 "counterfeit_sea:14 captagon_sea:4 cannabis_herbal_sea:9 precursors_air:3 "
                 "tobacco_road:3 counterfeit_medicines_air:2"),
        locations={
            "sea": ("ITGIT", "ITGIT", "ITGIT", "ITLIV", "ITGOA", "ITSAL", "ITNAP"),
            "migrant_sea_central": ("Lampedusa", "Lampedusa", "Pozzallo", "Crotone", "Augusta"),
            "cannabis_herbal_sea": ("Brindisi", "Otranto", "Bari (ITBRI)"),
            "captagon_sea": ("ITSAL", "ITGIT"),
            "road": ("Bari (ITBRI)", "Ancona (ITAOI)", "Trieste, valico di Fernetti"),
            "air": ("Roma Fiumicino", "Milano Malpensa"),
        },
        onward=_w("FRA:2 DEU:2 ESP:1 NLD:1"),
        defects=("unknown_unit", "unknown_market", "empty_required"),
        hostile=("@SUM(1+1)*cmd|' /C calc'!A0",),
    ),
    Sender(
        cc="PT", iso3="PRT", dataset="seizures", file_stem="apreensoes", format="csv",
        rows=170, period="year", lineterminator="\n", countries="en", markets=_w("short:1"),
        contact="Unidade de análise fictícia <analise-demo@example.org>",
        headers=SEIZURE_COLUMNS, list_separator="; ",
        flows=_w("cocaine_sea:40 cocaine_air:15 cannabis_resin_sea:20 glass_eels_air:10 "
                 "counterfeit_sea:7 precursors_air:3 cocaine_postal:3 migrant_sea_western:2"),
        overrides={
            # Portugal's cocaine comes overwhelmingly from Brazil
            "cocaine_sea": {"departures": _w("BRA:40 VEN:10 COL:10 ECU:10 PRY:5 GUY:5 SUR:5 PAN:5")},
            "cocaine_air": {"origins": _w("BRA:60 VEN:10 COL:10 PER:5")},
        },
        locations={
            "sea": ("Porto de Sines (PTSIE)", "Porto de Sines (PTSIE)", "Porto de Lisboa (PTLIS)",
                    "Porto de Leixões (PTLEI)"),
            "cannabis_resin_sea": ("Costa do Algarve", "Olhão", "Portimão"),
            "air": ("Aeroporto de Lisboa", "Aeroporto do Porto"),
            "postal": ("Centro de Produção e Logística, Lisboa",),
        },
        onward=_w("ESP:3 FRA:2 NLD:1"),
        defects=("duplicate_ref", "future_date", "not_a_country"),
        not_a_country="Europe",
        hostile=('=HYPERLINK("http://example.org","x")',),
    ),
    # ---- criminal networks
    Sender(
        cc="FR", iso3="FRA", dataset="criminal_networks", file_stem="reseaux_criminels",
        format="csv", rows=48, period="year", delimiter=";", date_format="%d/%m/%Y",
        countries="fr", markets=_w("label:1 short:1"), list_separator=" | ", booleans=("oui", "non"),
        contact="Bureau d'analyse fictif <bureau-analyse-demo@example.org>",
        headers=("Référence du réseau", "Date d'évaluation", "Marchés principaux", "Pays de base",
                 "Pays d'activité", "Nombre de membres", "Nationalités",
                 "Utilise des entreprises légales", "Recours à la violence",
                 "Recours à la corruption", "Méthodes de blanchiment", "Niveau de menace",
                 "Cible de haute valeur"),
        threat_words={"low": "faible", "medium": "moyen", "high": "élevé", "very_high": "très élevé"},
        laundering_words={"trade-based": "blanchiment commercial", "cash couriers": "passeurs de fonds",
                          "hawala": "hawala", "real estate": "immobilier",
                          "crypto-assets": "crypto-actifs", "front companies": "sociétés écrans"},
        defects=("empty_required",),
    ),
    Sender(
        cc="NL", iso3="NLD", dataset="criminal_networks", file_stem="criminele_netwerken",
        format="xlsx", rows=44, period="year", countries="iso2", markets=_w("code:1"),
        list_separator="; ", booleans=(1, 0),
        contact="Fictieve Analyse-eenheid Georganiseerde Criminaliteit <oc-analyse-demo@example.org>",
        headers=("Netwerkreferentie", "Beoordelingsdatum", "Voornaamste markten", "Basisland",
                 "Landen van activiteit", "Aantal leden", "Nationaliteiten",
                 "Gebruikt legale bedrijven", "Gebruikt geweld", "Gebruikt corruptie",
                 "Witwasmethoden", "Dreigingsniveau", "HVT"),
        defects=("bad_enum", "bad_boolean"),
    ),
    Sender(
        cc="DE", iso3="DEU", dataset="criminal_networks", file_stem="kriminelle_netzwerke",
        format="csv", rows=60, period="year", delimiter=",", lineterminator="\n",
        date_format="%d.%m.%Y", countries="de", markets=_w("label:1 short:2"), list_separator="; ",
        booleans=("ja", "nein"),
        contact="Fiktive Auswertungsstelle OK <auswertung-demo@example.org>",
        headers=("Netzwerkkennung", "Bewertungsdatum", "Hauptmärkte", "Basisland",
                 "Tätigkeitsländer", "Mitgliederzahl", "Staatsangehörigkeiten",
                 "nutzt legale Unternehmen", "Gewaltanwendung", "Korruption",
                 "Geldwäschemethoden", "Bedrohungsstufe", "hochrangiges Ziel"),
        threat_words={"low": "niedrig", "medium": "mittel", "high": "hoch", "very_high": "sehr hoch"},
        laundering_words={"trade-based": "handelsbasierte Geldwäsche", "cash couriers": "Bargeldkuriere",
                          "hawala": "Hawala", "real estate": "Immobilien",
                          "crypto-assets": "Kryptowerte", "front companies": "Scheinfirmen"},
        defects=("duplicate_ref", "bad_enum"),
    ),
    Sender(
        cc="IT", iso3="ITA", dataset="criminal_networks", file_stem="reti_criminali",
        format="json", rows=30, period="year", countries="iso3", markets=_w("code:3 short:1"),
        list_separator="; ", booleans=(True, False), headers=NETWORK_COLUMNS,
        contact="Unità di analisi fittizia <analisi-demo@example.org>",
        defects=("unknown_market",),
    ),
)  # fmt: skip

#: The ES seizures drop is sent again for the same period, corrected (supersession).
CORRECTED_RESEND = ("ES", "seizures")
_RESEND_LATE_ROWS = 6  # seizures reported late, only in the corrected file
_RESEND_REWEIGHED = 8  # quantities corrected after laboratory weighing


# --------------------------------------------------------------------------- networks

#: Network base countries: weight, principal markets, countries where they typically act.
NETWORK_BASES: Mapping[str, tuple[float, Weights, tuple[str, ...]]] = {
    "ALB": (8, _w("cocaine_trade:5 cannabis_trade:4 heroin_trade:2 human_smuggling:1"),
            ("ITA", "GRC", "BEL", "NLD", "DEU", "ESP", "GBR", "ECU")),
    "MAR": (7, _w("cannabis_trade:6 cocaine_trade:4 human_smuggling:2"),
            ("ESP", "NLD", "BEL", "FRA", "DEU", "ITA")),
    "COL": (6, _w("cocaine_trade:8 financial_crimes:1"), ("ESP", "NLD", "BEL", "ITA", "ECU", "PAN")),
    "TUR": (7, _w("heroin_trade:5 human_smuggling:4 counterfeit_goods:2 cocaine_trade:2"),
            ("DEU", "NLD", "BEL", "BGR", "GRC", "AUT")),
    "NGA": (5, _w("human_trafficking:6 cocaine_trade:3 financial_crimes:4"), ("ITA", "ESP", "DEU", "NLD", "AUT")),
    "CHN": (5, _w("counterfeit_goods:5 synthetic_drug_trade:4 human_trafficking:2 financial_crimes:2"),
            ("ITA", "ESP", "NLD", "FRA", "DEU", "HKG")),
    "SRB": (5, _w("cocaine_trade:5 arms_trafficking:4 heroin_trade:2"), ("MNE", "HRV", "AUT", "DEU", "ESP", "NLD")),
    "ECU": (4, _w("cocaine_trade:8"), ("ESP", "NLD", "BEL", "COL", "ALB")),
    "BRA": (3, _w("cocaine_trade:6 arms_trafficking:1"), ("PRT", "ESP", "PRY", "BOL", "BEL", "NLD")),
    "MNE": (3, _w("cocaine_trade:6 extortion_racketeering:2"), ("SRB", "ESP", "NLD", "BEL", "HRV")),
    "BIH": (2, _w("arms_trafficking:4 cocaine_trade:2"), ("HRV", "SVN", "AUT", "DEU")),
    "VNM": (2, _w("human_trafficking:4 cannabis_trade:4"), ("GBR", "NLD", "DEU", "FRA", "CZE")),
    "UKR": (2, _w("excise_goods:5 cyber_dependent_crimes:2"), ("POL", "LTU", "DEU", "HUN", "SVK")),
    "GEO": (2, _w("financial_crimes:3 excise_goods:2"), ("DEU", "FRA", "GRC", "ESP")),
    "RUS": (1.5, _w("cyber_dependent_crimes:5 financial_crimes:3"), ("DEU", "NLD", "FRA")),
    "LBY": (2, _w("human_smuggling:6 excise_goods:1"), ("ITA", "TUN", "EGY")),
    "TUN": (1.5, _w("human_smuggling:5 cannabis_trade:1"), ("ITA", "FRA", "LBY")),
    "ARE": (1, _w("financial_crimes:3 cocaine_trade:2"), ("NLD", "BEL", "ESP", "GBR")),
    # a few networks are EU-based but act outside the EU
    "NLD": (1.5, _w("cocaine_trade:5 synthetic_drug_trade:4"), ("BEL", "ESP", "ECU", "ARE", "DEU")),
    "ITA": (1.5, _w("cocaine_trade:6 extortion_racketeering:4"), ("COL", "ECU", "DEU", "ESP", "BEL")),
}  # fmt: skip
MEMBER_BANDS: Weights = _w("1-10:3 11-50:5 51-100:2 101-500:1.2 >500:0.3")
THREAT_LEVELS: Weights = _w("low:2 medium:5 high:4 very_high:1.5")
LAUNDERING_METHODS: Weights = (
    ("trade-based", 3), ("cash couriers", 4), ("hawala", 2), ("real estate", 4),
    ("crypto-assets", 2), ("front companies", 4),
)  # fmt: skip


# --------------------------------------------------------------------------- the drops


@dataclass(frozen=True)
class DemoDrop:
    """One generated file, with what was planted in it (row 1 = the first data row)."""

    member_state: str
    dataset: str
    file_name: str
    period: str
    format: Format
    encoding: str | None  # CSV/JSON: as written ("utf-8-sig" = UTF-8 with BOM); XLSX: None
    delimiter: str | None  # CSV only
    headers: tuple[str, ...]  # in contract order (SEIZURE_COLUMNS / NETWORK_COLUMNS)
    rows: int
    content: bytes
    contact: str
    #: row number -> defect kind (a key of DEFECT_RULES)
    defects: Mapping[int, str] = field(default_factory=dict)
    #: row number of a repeated reference -> the row that used it first
    duplicates: Mapping[int, int] = field(default_factory=dict)
    #: row number -> markup / formula text in a free-text column (valid: kept as data)
    hostile: Mapping[int, str] = field(default_factory=dict)
    #: the earlier file (same state, dataset, period) this one corrects, if any
    corrects: str | None = None

    @property
    def relative_path(self) -> str:
        return f"{self.member_state}/{self.file_name}"

    @property
    def sidecar(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "period": self.period,
            "marking": MARKING,
            "contact": self.contact,
            "synthetic": True,
        }


def build_demo_drops(*, today: date, seed: int = 2026) -> list[DemoDrop]:
    """Every demonstration drop, in memory, in the order they should be received."""
    drops: list[DemoDrop] = []
    stamp = datetime.combine(today - timedelta(days=1), time(9, 0))  # "saved" yesterday morning
    for sender in SENDERS:
        period, start, end = _period(today, sender.period)
        rng = _rng(seed, sender, "rows")
        if sender.dataset == "seizures":
            clean = _seizures(sender, rng, start, end, sender.rows, first_ref=rng.randint(100, 900))
        else:
            clean = _networks(sender, rng, start, end, sender.rows)
        # Hostile text is valid: it goes into the clean rows, so a corrected re-send keeps it.
        hostile = _plant_hostile(sender, clean, _rng(seed, sender, "hostile"))
        records = [dict(r) for r in clean]
        defects, duplicates = _plant_defects(
            sender, records, _rng(seed, sender, "defects"), today, end.year, avoid=set(hostile)
        )
        drops.append(
            _drop(
                sender, period, records, defects, duplicates, hostile, stamp=stamp, file_name=None
            )
        )
        if (sender.cc, sender.dataset) == CORRECTED_RESEND:
            corrected = _corrected(sender, clean, _rng(seed, sender, "resend"), start, end)
            drops.append(
                _drop(
                    sender, period, corrected, {}, {}, hostile, stamp=stamp,
                    file_name=f"{sender.file_stem}_{period}_v2.{sender.format}",
                    corrects=drops[-1].file_name,
                )
            )  # fmt: skip
    return drops


def write_demo_drops(incoming: Path, *, today: date, seed: int = 2026) -> list[Path]:
    """Write the demonstration drops into ``incoming/<CC>/``, each with its sidecar.

    Files appear atomically (written under a hidden name, then renamed), the sidecar
    first, so a watching sensor never picks up half a file or a file without its sidecar.
    A corrected re-send is made a little younger than the file it corrects, so that
    oldest-first pick-up receives them in order. Returns the data files' paths.
    """
    paths: list[Path] = []
    for drop in build_demo_drops(today=today, seed=seed):
        folder = incoming / drop.member_state
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / drop.file_name
        sidecar = json.dumps(drop.sidecar, ensure_ascii=False, indent=2) + "\n"
        _write_atomic(path.with_name(path.name + SIDECAR_SUFFIX), sidecar.encode("utf-8"))
        _write_atomic(path, drop.content)
        if drop.corrects:
            earlier = folder / drop.corrects
            stamp = path.stat().st_mtime_ns - 1_000_000_000
            os.utime(earlier, ns=(stamp, stamp))
        paths.append(path)
    return paths


def _write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(content)
    os.replace(temporary, path)


# --------------------------------------------------------------------------- generation


def _rng(seed: int, sender: Sender, purpose: str) -> random.Random:
    # One stream per sender and purpose: changing one file's recipe leaves the others as they were.
    return random.Random(f"{seed}/{sender.cc}/{sender.dataset}/{purpose}")


def _pick(rng: random.Random, weights: Weights) -> str:
    keys = [key for key, _ in weights]
    return rng.choices(keys, weights=[weight for _, weight in weights])[0]


def _period(today: date, kind: str) -> tuple[str, date, date]:
    """The last complete year or quarter before ``today``: (label, first day, last day)."""
    if kind == "year":
        year = today.year - 1
        return str(year), date(year, 1, 1), date(year, 12, 31)
    quarter, year = (today.month - 1) // 3, today.year  # the current quarter, 0-based
    if quarter == 0:
        quarter, year = 4, year - 1
    start = date(year, 3 * quarter - 2, 1)
    end = (date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)) - timedelta(days=1)
    return f"{year}-Q{quarter}", start, end


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _market_text(rng: random.Random, sender: Sender, market: str, short: Sequence[str]) -> str:
    form = _pick(rng, sender.markets)
    label, shorts = MARKET_FORMS[market]
    if form == "label":
        return label
    if form == "short":
        return rng.choice(list(short or shorts))
    return market


def _quantity(rng: random.Random, flow: Flow) -> float:
    median, sigma, low, high = flow.quantity
    if flow.record_share and rng.random() < flow.record_share:
        value = rng.uniform(high * 0.35, high)  # the rare record seizure
    else:
        # Redraw (rather than clip) out-of-range values: no pile-up at the bounds.
        for _ in range(50):
            value = math.exp(math.log(median) + sigma * rng.gauss(0.0, 1.0))
            if low <= value <= high:
                break
    value = min(max(value, low), high)
    # Precision as recorded: counts whole, grams whole, kilograms to 0.1 (0.01 below 10 kg).
    if flow.unit in ("units", "tablets", "g"):
        return float(round(value))
    return round(value, 2 if value < 10 else 1)


def _arrests(rng: random.Random, mean: float) -> int:
    return min(12, int(rng.expovariate(1.0 / mean))) if mean > 0 else 0


def _seizures(
    sender: Sender, rng: random.Random, start: date, end: date, rows: int, *, first_ref: int
) -> list[dict[str, Any]]:
    """``rows`` clean seizures in canonical form (iso3 countries, contract units and modes;
    the market already in the sender's wording), dated in [start, end], refs in date order."""
    records = []
    for _ in range(rows):
        key = _pick(rng, sender.flows)
        flow = replace(FLOWS[key], **sender.overrides.get(key, {}))
        origin = _pick(rng, flow.origins).replace("SELF", sender.iso3)
        departure = _pick(rng, flow.departures) if flow.departures else origin
        if flow.destinations:
            destination = _pick(rng, flow.destinations).replace("SELF", sender.iso3)
        else:
            destination = sender.iso3 if rng.random() < 0.8 else _pick(rng, sender.onward)
        route = rng.choice(flow.transits).split()
        transit = [c for c in route if c not in (origin, departure, destination, sender.iso3)]
        quantity, unit = _quantity(rng, flow), flow.unit
        if unit == "kg" and sender.tonnes_from_kg and quantity >= sender.tonnes_from_kg:
            quantity, unit = round(quantity / 1000, 2), "t"
        places = sender.locations.get(key) or sender.locations.get(flow.mode) or ("",)
        records.append(
            {
                "seizure_date": _day(rng, start, end),
                "market": _market_text(rng, sender, flow.market, flow.short),
                # Optional fields are sometimes left empty, as in real returns.
                "commodity": rng.choice(flow.commodity[_language(sender)]) if rng.random() > 0.04 else None,
                "quantity": quantity,
                "unit": unit,
                "origin_country": origin if rng.random() > 0.03 else None,
                "departure_country": departure if rng.random() > 0.06 else None,
                "destination_country": destination if rng.random() > 0.04 else None,
                "transit_countries": transit,
                "transport_mode": flow.mode if rng.random() > 0.02 else None,
                "location": rng.choice(places) or None,
                "arrests": _arrests(rng, flow.arrests) if rng.random() > 0.05 else None,
            }
        )  # fmt: skip
    records.sort(key=lambda r: r["seizure_date"])  # references are issued in date order
    sequence = first_ref
    for record in records:
        record["seizure_ref"] = f"{sender.cc}-{start.year}-{sequence:06d}"
        sequence += rng.choice((1, 1, 1, 2, 3))  # gaps: references of other case types
    return [{column: record[column] for column in SEIZURE_COLUMNS} for record in records]


def _language(sender: Sender) -> str:
    return sender.language if sender.language in ("es", "fr", "de") else "en"


def _networks(
    sender: Sender, rng: random.Random, start: date, end: date, rows: int
) -> list[dict[str, Any]]:
    """``rows`` clean network assessments in canonical form (iso3 countries, booleans,
    canonical bands and threat levels; markets in the sender's wording)."""
    bases: Weights = tuple((iso3, weight) for iso3, (weight, _, _) in NETWORK_BASES.items())
    records = []
    for _ in range(rows):
        base = _pick(rng, bases)
        _, markets, active_in = NETWORK_BASES[base]
        chosen: list[str] = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            market = _pick(rng, markets)
            if market not in chosen:
                chosen.append(market)
        others = rng.sample(active_in, rng.randint(1, min(4, len(active_in))))
        active = list(dict.fromkeys([base, sender.iso3, *others]))
        nationalities = [base, *rng.sample(active[1:], rng.randint(0, min(2, len(active) - 1)))]
        threat = _pick(rng, THREAT_LEVELS)
        serious = threat in ("high", "very_high")
        violent = bool(
            {"cocaine_trade", "arms_trafficking", "extortion_racketeering"} & set(chosen)
        )
        methods: list[str] = []
        for _ in range(rng.randint(1, 3)):
            method = _pick(rng, LAUNDERING_METHODS)
            if method not in methods:
                methods.append(method)
        records.append(
            {
                "assessment_date": _day(rng, start, end),
                "principal_markets": [_market_text(rng, sender, m, ()) for m in chosen],
                "base_country": base,
                "countries_active": active,
                "member_count_band": _pick(rng, MEMBER_BANDS),
                "nationalities": list(dict.fromkeys(nationalities)),
                "uses_legal_business": rng.random() < 0.6,
                "uses_violence": rng.random() < (0.65 if violent else 0.3),
                "uses_corruption": rng.random() < (0.6 if serious else 0.35),
                "money_laundering_methods": methods,
                "threat_level": threat,
                "hvt": rng.random() < (0.45 if serious else 0.1),
            }
        )
    records.sort(key=lambda r: r["assessment_date"])
    sequence = rng.randint(1, 40)
    for record in records:
        record["network_ref"] = f"{sender.cc}-OCG-{start.year}-{sequence:04d}"
        sequence += rng.choice((1, 1, 2))
    return [{column: record[column] for column in NETWORK_COLUMNS} for record in records]


class Raw(str):
    """A cell value planted as written (a defect): never translated or reformatted."""


def _plant_defects(
    sender: Sender,
    records: list[dict[str, Any]],
    rng: random.Random,
    today: date,
    year: int,
    *,
    avoid: set[int],
) -> tuple[dict[int, str], dict[int, int]]:
    """Spoil one row per defect kind, in place, leaving the rows in ``avoid`` (1-based)
    alone. Returns (row -> kind, repeat row -> the row that used the reference first)."""
    free = [i for i in range(len(records)) if i + 1 not in avoid]
    positions = rng.sample(free[5:], len(sender.defects))
    defects: dict[int, str] = {}
    duplicates: dict[int, int] = {}
    ref, day = SEIZURE_COLUMNS[:2] if sender.dataset == "seizures" else NETWORK_COLUMNS[:2]
    for index, kind in zip(positions, sender.defects, strict=True):
        record = records[index]
        if kind == "duplicate_ref":
            earlier = rng.choice([i for i in free if i < index and i not in positions])
            record[ref] = records[earlier][ref]
            duplicates[index + 1] = earlier + 1
        elif kind == "empty_required":
            required = ("seizure_date", "market", "quantity", "unit")
            column = rng.choice(required) if sender.dataset == "seizures" else "base_country"
            record[column] = None
        elif kind == "bad_date":  # 31 February, in the sender's own date form
            text = (
                sender.date_format.replace("%d", "31").replace("%m", "02").replace("%Y", str(year))
            )
            record[day] = Raw(text)
        elif kind == "future_date":
            record[day] = today + timedelta(days=rng.randint(20, 90))
        elif kind == "negative_quantity":
            record["quantity"] = -abs(record["quantity"]) or -1.0
        elif kind == "unknown_unit":
            record["unit"] = Raw("sacks")
        elif kind == "unknown_market":
            if sender.dataset == "seizures":
                record["market"] = Raw("tulips")
            else:
                record["principal_markets"] = [*record["principal_markets"], Raw("tulips")]
        elif kind == "not_a_country":
            record["origin_country"] = Raw(sender.not_a_country)
        elif kind == "bad_enum":
            column, value = rng.choice(
                (("threat_level", "critical"), ("member_count_band", "ca. 30"))
            )
            record[column] = Raw(value)
        elif kind == "bad_boolean":
            record[rng.choice(("uses_violence", "uses_corruption", "hvt"))] = Raw("maybe")
        else:
            raise ValueError(f"unknown defect kind {kind!r}")
        defects[index + 1] = kind
    return defects, duplicates


def _plant_hostile(
    sender: Sender, records: list[dict[str, Any]], rng: random.Random
) -> dict[int, str]:
    """Put markup / formula text in free-text cells of otherwise valid rows, in place."""
    planted: dict[int, str] = {}
    for text in sender.hostile:
        row = rng.choice([n for n in range(2, len(records) + 1) if n not in planted])
        records[row - 1]["commodity"] = Raw(text)
        planted[row] = text
    return planted


def _corrected(
    sender: Sender, clean: list[dict[str, Any]], rng: random.Random, start: date, end: date
) -> list[dict[str, Any]]:
    """The corrected re-send: the clean rows, some quantities re-weighed, late rows added."""
    records = [dict(r) for r in clean]
    for index in rng.sample(range(len(records)), _RESEND_REWEIGHED):
        record = records[index]
        if record["unit"] in ("kg", "t"):
            record["quantity"] = round(record["quantity"] * rng.uniform(0.97, 1.03), 2)
    last = int(str(records[-1]["seizure_ref"]).rsplit("-", 1)[1])
    late_start = max(start, end - timedelta(days=30))  # late reports are from the last weeks
    records += _seizures(sender, rng, late_start, end, _RESEND_LATE_ROWS, first_ref=last + 5)
    return records


# --------------------------------------------------------------------------- writing


def _drop(
    sender: Sender,
    period: str,
    records: list[dict[str, Any]],
    defects: dict[int, str],
    duplicates: dict[int, int],
    hostile: dict[int, str],
    *,
    stamp: datetime,
    file_name: str | None,
    corrects: str | None = None,
) -> DemoDrop:
    name = file_name or f"{sender.file_stem}_{period}.{sender.format}"
    if sender.format == "csv":
        content = _csv_bytes(sender, records)
    elif sender.format == "xlsx":
        content = _xlsx_bytes(sender, records, title=sender.file_stem[:31], stamp=stamp)
    else:
        payload = {sender.dataset: [_json_record(sender, r) for r in records]}
        content = (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return DemoDrop(
        member_state=sender.cc,
        dataset=sender.dataset,
        file_name=name,
        period=period,
        format=sender.format,
        encoding=None if sender.format == "xlsx" else sender.encoding,
        delimiter=sender.delimiter if sender.format == "csv" else None,
        headers=sender.headers,
        rows=len(records),
        content=content,
        contact=sender.contact,
        defects=defects,
        duplicates=duplicates,
        hostile=hostile,
        corrects=corrects,
    )


def _country(sender: Sender, value: Any) -> str | None:
    if value is None or isinstance(value, Raw):
        return value
    if sender.countries == "iso3":
        return str(value)
    return COUNTRIES[value][_COUNTRY_STYLE_INDEX[sender.countries]]


def _countries(sender: Sender, values: Sequence[Any]) -> str | None:
    return sender.list_separator.join(str(_country(sender, v)) for v in values) or None


def _word(table: Mapping[str, Mapping[str, str]], sender: Sender, value: Any) -> Any:
    if value is None or isinstance(value, Raw):
        return value
    return table.get(sender.language, {}).get(value, value)


def _number_text(sender: Sender, value: float | None) -> str | None:
    """A quantity as the sender writes it: decimal comma, thousands grouping, no `.0`."""
    if value is None:
        return None
    text = f"{value:.2f}".rstrip("0").rstrip(".")  # never three decimals: "1,234" stays unambiguous
    whole, _, fraction = text.lstrip("-").partition(".")
    if sender.thousands and len(whole) > 4:
        whole = f"{int(whole):,}".replace(",", sender.thousands)
    sign = "-" if text.startswith("-") else ""
    mark = "," if sender.decimal_comma else "."
    return sign + whole + (mark + fraction if fraction else "")


def _date_text(sender: Sender, value: Any) -> str | None:
    if value is None or isinstance(value, Raw):
        return value
    return value.strftime(sender.date_format)


def _boolean(sender: Sender, value: Any) -> Any:
    if value is None or isinstance(value, Raw):
        return value
    return sender.booleans[0] if value else sender.booleans[1]


def _canonical_cells(sender: Sender, record: Mapping[str, Any]) -> dict[str, Any]:
    """The cells every format shares: translated words, rendered countries and lists."""
    if sender.dataset == "seizures":
        return {
            **record,
            "unit": _word(UNIT_WORDS, sender, record["unit"]),
            "transport_mode": _word(MODE_WORDS, sender, record["transport_mode"]),
            "origin_country": _country(sender, record["origin_country"]),
            "departure_country": _country(sender, record["departure_country"]),
            "destination_country": _country(sender, record["destination_country"]),
            "transit_countries": _countries(sender, record["transit_countries"]),
        }
    threat = record["threat_level"]
    return {
        **record,
        "principal_markets": sender.list_separator.join(record["principal_markets"]),
        "base_country": _country(sender, record["base_country"]),
        "countries_active": _countries(sender, record["countries_active"]),
        "nationalities": _countries(sender, record["nationalities"]),
        "uses_legal_business": _boolean(sender, record["uses_legal_business"]),
        "uses_violence": _boolean(sender, record["uses_violence"]),
        "uses_corruption": _boolean(sender, record["uses_corruption"]),
        "hvt": _boolean(sender, record["hvt"]),
        "money_laundering_methods": sender.list_separator.join(
            sender.laundering_words.get(m, m) for m in record["money_laundering_methods"]
        ),
        "threat_level": threat
        if isinstance(threat, Raw)
        else sender.threat_words.get(threat, threat),
    }


def _columns(sender: Sender) -> tuple[str, ...]:
    return SEIZURE_COLUMNS if sender.dataset == "seizures" else NETWORK_COLUMNS


def _csv_bytes(sender: Sender, records: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sender.delimiter, lineterminator=sender.lineterminator)
    writer.writerow(sender.headers)
    for record in records:
        cells = _canonical_cells(sender, record)
        row = []
        for column in _columns(sender):
            value = cells[column]
            if column in ("seizure_date", "assessment_date"):
                value = _date_text(sender, value)
            elif column == "quantity" and not isinstance(value, Raw):
                value = _number_text(sender, value)
            row.append("" if value is None else str(value))
        writer.writerow(row)
    # strict: a character the encoding cannot hold is a bug here, not something to replace
    return buffer.getvalue().encode(sender.encoding, errors="strict")


def _json_record(sender: Sender, record: Mapping[str, Any]) -> dict[str, Any]:
    cells = _canonical_cells(sender, record)
    out: dict[str, Any] = {}
    for column, header in zip(_columns(sender), sender.headers, strict=True):
        value = cells[column]
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        out[header] = str(value) if isinstance(value, Raw) else value
    return out


def _xlsx_bytes(
    sender: Sender, records: list[dict[str, Any]], *, title: str, stamp: datetime
) -> bytes:
    """A real workbook: date cells (shown day-first) and number cells, byte-reproducible."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    sheet.append(list(sender.headers))
    for record in records:
        cells = _canonical_cells(sender, record)
        row = []
        for column in _columns(sender):
            value = cells[column]
            if isinstance(value, Raw):
                value = str(value)  # a text cell, as typed
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            row.append(value)
        sheet.append(row)
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        if isinstance(cell.value, date | datetime):
            cell.number_format = "DD-MM-YYYY"
    for column, width in zip(
        "ABCDEFGHIJKLM", (26, 14, 22, 36, 12, 10, 14, 14, 14, 22, 12, 22, 10), strict=True
    ):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    workbook.properties.creator = "EXTRA demo generator (synthetic data)"
    workbook.properties.created = stamp
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _pinned_zip(buffer.getvalue(), stamp)


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _pinned_zip(data: bytes, stamp: datetime) -> bytes:
    """The same workbook with the clock taken out: openpyxl writes "now" as the modified
    time in docProps/core.xml and as every zip entry's time; both become ``stamp``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + iso + rb"\g<2>", content)
            pinned = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = info.external_attr
            target.writestr(pinned, content)
    return out.getvalue()
