"""Generate the sample OpenOlat booking-order exports for billing-export.

Writes, next to this script:

* ``booking_orders.csv``    -- German headers, comma-separated, UTF-8 without BOM, 240 rows
* ``booking_orders_en.csv`` -- the first 20 rows with English headers, semicolon-separated,
                               UTF-8 with BOM, raw status values

Deterministic: a fixed random seed, no current date, no network. Money never passes through a
float: prices are written as text, the cancellation fee is computed with ``decimal.Decimal``.

Run: ``python sample_data/generate_orders.py``
"""

from __future__ import annotations

import csv
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261028
NBSP = "\u00a0"
N_ROWS = 240
N_EN_ROWS = 20

HEADERS_DE = [
    "Benutzername", "Vorname", "Nachname", "E-Mail-Adresse",
    "Produkt", "Kennzeichen ", "Org ID (Produkt)", "Org name (Produkt)",
    "Durchführung", "Kennzeichen", "Durchführungstyp", "Durchführungsstatus",
    "Durchführungsformat", "Durchführung von", "Durchführung bis", "Durchführungsort",
    "Buchungsnummer", "Buchungsstatus", "Angebot", "Angebotstyp", "Kostenstelle", "Konto",
    "PO Nummer", "Kommentar zur Bestellung", "Auftragsdatum", "Preis", "Stornogebühr",
    "Rechnungsadresse", "Name / Firma", "Zusatz / Abteilung",
    "Adresszeile 1", "Adresszeile 2", "Adresszeile 3", "Adresszeile 4",
    "Postfach", "Region", "PLZ", "Ort", "Land",
    "Org ID (Rechnungsadresse)", "Org name (Rechnungsadresse)",
]

HEADERS_EN = [
    "User name", "First name", "Last name", "E-mail address",
    "Product", "Ext. ref.", "Org ID (product)", "Org name (product)",
    "Implementation", "Ext. ref.", "Implementation type", "Implementation status",
    "Implementation format", "Execution from", "Execution to", "Location",
    "Booking number", "Booking status", "Offer", "Offer type", "Cost center", "Account",
    "PO number", "Order comment", "Order date", "Price", "Cancellation fee",
    "Billing address", "Name / company", "Addition / department",
    "Address line 1", "Address line 2", "Address line 3", "Address line 4",
    "P.O. box", "Region", "ZIP", "City", "Country",
    "Org ID (Billing address)", "Org name (Billing address)",
]
assert len(HEADERS_DE) == len(HEADERS_EN) == 41

# German display label -> raw o_ac_order.order_status (the English file writes the raw value)
STATUS_RAW = {
    "Neu": "NEW",
    "Offen": "PREPAYMENT",
    "Bezahlt": "PAYED",
    "Storniert": "CANCELED",
    "Storniert mit Gebühr": "CANCELED",
    "Ausgebucht": "WRITTEN_OFF",
    "Fehler": "ERROR",
}
IMPL_STATUS_RAW = {
    "Provisorisch": "provisional",
    "Bestätigt": "confirmed",
    "Aktiv": "active",
    "Beendet": "finished",
}
PAYMENT_METHOD_EN = {"Rechnung": "Invoice", "Kreditkarte": "Credit card"}

MINOR_UNITS = {"CHF": 2, "EUR": 2, "USD": 2, "JPY": 0}
CANCELLATION_FEE_PERCENT = Decimal("20")
ACCOUNT_BY_TYPE = {"Kurs": "3400", "Seminar": "3410", "Lehrgang": "3420"}

# --------------------------------------------------------------------------------------------
# Products and implementations
# --------------------------------------------------------------------------------------------

ORGS = {
    "ORG-10": ("Bildungszentrum Zürich", "KST-100"),
    "ORG-20": ("Management-Akademie Bern", "KST-200"),
    "ORG-30": ("Weiterbildungszentrum Basel", "KST-300"),
}


@dataclass(frozen=True)
class Product:
    ref: str
    name: str
    org_id: str
    impl_type: str
    # offer name -> currency -> amount text (never a float)
    prices: dict[str, dict[str, str]]


def _p(chf, eur, usd, jpy):
    return {"CHF": chf, "EUR": eur, "USD": usd, "JPY": jpy}


PRODUCTS = {
    p.ref: p
    for p in [
        Product("PM-GRUND", "Projektmanagement Grundlagen", "ORG-10", "Kurs", {
            "Standardpreis": _p("1250.00", "1190.00", "1390.00", "198000"),
            "Frühbucher": _p("1125.00", "1071.00", "1251.00", "178000"),
        }),
        Product("FUE-WANDEL", "Führung im Wandel", "ORG-20", "Lehrgang", {
            "Standardpreis": _p("4800.00", "4590.00", "5350.00", "760000"),
            "Frühbucher": _p("4320.00", "4131.00", "4815.00", "684000"),
            "Pauschale inkl. Seminarhotel": _p("3650.00", "3490.00", "4050.00", "575000"),
        }),
        Product("DS-PRAX", "Datenschutz für Praktiker", "ORG-30", "Seminar", {
            "Standardpreis": _p("890.00", "850.00", "990.00", "140000"),
            "Frühbucher": _p("801.00", "765.00", "891.00", "126000"),
        }),
        Product("XL-CTRL", "Excel für Controller", "ORG-10", "Kurs", {
            "Standardpreis": _p("649.95", "620.00", "720.00", "102000"),
            "Frühbucher": _p("584.95", "558.00", "648.00", "91800"),
        }),
        Product("AGILE-SCRUM", "Agile Methoden – Scrum", "ORG-10", "Seminar", {
            "Standardpreis": _p("1249.95", "1190.50", "1390.00", "150000"),
            "Frühbucher": _p("1124.95", "1071.45", "1251.00", "135000"),
        }),
        Product("KOMM-PRAES", "Kommunikation & Präsentation", "ORG-20", "Seminar", {
            "Standardpreis": _p("980.00", "890.50", "1090.00", "155000"),
            "Frühbucher": _p("882.00", "801.45", "981.00", "139500"),
        }),
        Product("ASI", "Arbeitssicherheit", "ORG-30", "Kurs", {
            "Standardpreis": _p("480.00", "460.00", "535.00", "76000"),
            "Frühbucher": _p("432.00", "414.00", "481.50", "68400"),
        }),
        Product("RW-KOMPAKT", "Rechnungswesen kompakt", "ORG-30", "Lehrgang", {
            "Standardpreis": _p("2350.00", "2240.00", "2620.00", "372000"),
            "Frühbucher": _p("2115.00", "2016.00", "2358.00", "334800"),
        }),
    ]
}

# 2020 price list (only EUR is needed: the old orders are German customers)
PRICES_2020 = {
    "XL-CTRL": {"Standardpreis": {"EUR": "590.00"}, "Frühbucher": {"EUR": "531.00"}},
    "AGILE-SCRUM": {"Standardpreis": {"EUR": "1150.00"}, "Frühbucher": {"EUR": "1035.00"}},
    "ASI": {"Standardpreis": {"EUR": "435.00"}, "Frühbucher": {"EUR": "391.50"}},
}


@dataclass(frozen=True)
class Implementation:
    ref: str
    product: str
    suffix: str
    status: str
    fmt: str
    location: str
    begin: date
    end: date
    offer: str | None = None        # fixed offer (e.g. the Seminarhotel package)
    cost_center: str | None = None  # overrides the product org's cost center

    @property
    def name(self) -> str:
        return f"{PRODUCTS[self.product].name} – {self.suffix}"


D = date.fromisoformat
IMPLEMENTATIONS = {
    i.ref: i
    for i in [
        Implementation("PM-GRUND-2026-H", "PM-GRUND", "Herbst 2026", "Aktiv", "Präsenz", "Zürich",
                       D("2026-09-07"), D("2026-11-20")),
        Implementation("PM-GRUND-2027-F", "PM-GRUND", "Frühjahr 2027", "Bestätigt", "Hybrid", "Zürich",
                       D("2027-02-01"), D("2027-03-26")),
        Implementation("FUE-WANDEL-2026-H", "FUE-WANDEL", "Herbst 2026", "Aktiv", "Präsenz", "Bern",
                       D("2026-09-21"), D("2027-03-19")),
        Implementation("FUE-WANDEL-2027-SH", "FUE-WANDEL", "Intensivwoche Seminarhotel Januar 2027",
                       "Bestätigt", "Präsenz", "Bern", D("2027-01-18"), D("2027-01-22"),
                       offer="Pauschale inkl. Seminarhotel", cost_center="KST-900"),
        Implementation("DS-PRAX-2026-10", "DS-PRAX", "Oktober 2026", "Bestätigt", "Präsenz", "Basel",
                       D("2026-10-29"), D("2026-10-30")),
        Implementation("DS-PRAX-2027-02", "DS-PRAX", "Februar 2027 (online)", "Provisorisch", "Online",
                       "Online", D("2027-02-15"), D("2027-02-16")),
        Implementation("XL-CTRL-2026-H", "XL-CTRL", "Herbst 2026 (online)", "Beendet", "Online", "Online",
                       D("2026-09-15"), D("2026-10-13")),
        Implementation("XL-CTRL-2027-W", "XL-CTRL", "Winter 2027", "Bestätigt", "Hybrid", "Zürich",
                       D("2027-01-12"), D("2027-02-09")),
        Implementation("AGILE-SCRUM-2026-H", "AGILE-SCRUM", "Herbst 2026", "Beendet", "Präsenz", "München",
                       D("2026-10-05"), D("2026-10-07")),
        Implementation("AGILE-SCRUM-2027-F", "AGILE-SCRUM", "Frühjahr 2027 (online)", "Bestätigt", "Online",
                       "Online", D("2027-03-01"), D("2027-03-03")),
        Implementation("KOMM-PRAES-2026-H", "KOMM-PRAES", "Herbst 2026", "Bestätigt", "Präsenz", "Bern",
                       D("2026-11-09"), D("2026-11-10")),
        Implementation("KOMM-PRAES-2027-F", "KOMM-PRAES", "Frühjahr 2027", "Provisorisch", "Hybrid", "Basel",
                       D("2027-03-15"), D("2027-03-16")),
        Implementation("ASI-2026-08", "ASI", "August 2026", "Beendet", "Präsenz", "Basel",
                       D("2026-08-17"), D("2026-08-19")),
        Implementation("ASI-2026-11", "ASI", "November 2026", "Bestätigt", "Präsenz", "München",
                       D("2026-11-23"), D("2026-11-25")),
        Implementation("RW-KOMPAKT-2026-H", "RW-KOMPAKT", "Herbst 2026", "Aktiv", "Präsenz", "Zürich",
                       D("2026-08-24"), D("2026-12-18")),
        Implementation("RW-KOMPAKT-2027-F", "RW-KOMPAKT", "Frühjahr 2027 (online)", "Bestätigt", "Online",
                       "Online", D("2027-01-11"), D("2027-03-31")),
        # 2020 implementations of the late-billed old orders
        Implementation("XL-CTRL-2020-H", "XL-CTRL", "Herbst 2020", "Beendet", "Präsenz", "München",
                       D("2020-09-14"), D("2020-10-09")),
        Implementation("AGILE-SCRUM-2020-11", "AGILE-SCRUM", "November 2020 (online)", "Beendet", "Online",
                       "Online", D("2020-11-02"), D("2020-11-04")),
        Implementation("ASI-2020-08", "ASI", "August 2020", "Beendet", "Präsenz", "München",
                       D("2020-08-24"), D("2020-08-26")),
    ]
}
CURRENT_IMPLS = [r for r in IMPLEMENTATIONS if "-2020-" not in r]
ONLINE_IMPLS = [r for r in CURRENT_IMPLS if IMPLEMENTATIONS[r].fmt == "Online"]

ORDER_FROM, ORDER_TO = D("2026-06-01"), D("2026-10-28")
EARLY_BIRD_DAYS = 60

# --------------------------------------------------------------------------------------------
# Billing addresses (fixed) and the people who order
# --------------------------------------------------------------------------------------------


@dataclass
class Address:
    id: str
    name: str
    addition: str
    line1: str
    line2: str
    po_box: str
    region: str
    zip: str
    city: str
    country_text: str
    currency: str
    rows: int                      # total rows of this address in the file
    org_id: str = ""
    org_name: str = ""
    domain: str = ""               # company e-mail domain (companies only)
    po_numbers: list[str] = field(default_factory=list)   # PO numbers of the 2026 orders
    people: str = "de"             # name pool for the company's employees
    person: tuple[str, str] | None = None   # private person: (first, last) of the orderer

    @property
    def is_company(self) -> bool:
        return self.person is None


def _c(id, name, addition, line1, line2, po_box, region, zip, city, land, cur, rows, org_id,
       domain, pos, people="de"):
    return Address(id, name, addition, line1, line2, po_box, region, zip, city, land, cur, rows,
                   org_id=org_id, org_name=name, domain=domain, po_numbers=pos, people=people)


def _pp(id, first, last, line1, zip, city, land, rows, region="", cur="CHF", name=None):
    return Address(id, name if name is not None else f"{first} {last}", "", line1, "", "", region,
                   zip, city, land, cur, rows, person=(first, last))


FORMULA_NAME = '=HYPERLINK("http://example.invalid","klick")'

ADDRESSES = [
    _c("BA-1001", "Limmat Logistik AG", "Personalentwicklung", "Hardturmstrasse 161", "",
       "Postfach 1845", "ZH", "8005", "Zürich", "Schweiz", "CHF", 12, "ORG-501",
       "limmat-logistik.example", ["PO-45-2211", "PO-45-2389"]),
    _pp("BA-1002", "Jürg", "Lüthi", "Kirchweg 5", "3110", "Münsingen", "Schweiz", 3),
    _c("BA-1003", "Bärner Versicherungen Genossenschaft", "Aus- und Weiterbildung",
       "Laupenstrasse 18", "", "", "BE", "3008", "Bern", "CH", "CHF", 12, "ORG-502",
       "baerner-versicherungen.example", ["PO-2026-0871"]),
    _c("BA-1004", "Klinik Seeblick AG", "HR – Fachentwicklung Pflege", "Seestrasse 220",
       "Haus B", "", "ZH", "8708", "Männedorf", "Schweiz", "CHF", 8, "ORG-503",
       "klinik-seeblick.example", ["PO-KS-2026-19"]),
    _c("BA-1005", "Isarwerk Maschinenbau GmbH", "Personalentwicklung", "Leopoldstraße 144", "",
       "", "Bayern", "80804", "München", "Deutschland", "EUR", 12, "ORG-601",
       "isarwerk.example", ["PO-2026-1142"]),
    _c("BA-1006", "Rhybrugg Chemie AG", "Global Learning & Development", "Klybeckstrasse 141",
       "Gebäude K-25", "", "BS", "4057", "Basel", "Schweiz", "USD", 5, "ORG-504",
       "rhybrugg-chemie.example", ["PO-US-77120"]),
    _pp("BA-1007", "Käthi", "Bärtschi", "Oberdorfstrasse 12", "8800", "Thalwil", "CH", 2),
    _c("BA-1008", "Hôpitaux du Léman SA", "Ressources humaines – Formation continue",
       "Rue du Rhône 12", "", "Case postale 3021", "GE", "1204", "Genève", "Suisse", "CHF", 9,
       "ORG-505", "hopitaux-leman.example", ["PO-GE-26-114"], people="fr"),
    _c("BA-1009", "Schwäbische Präzisionsteile GmbH & Co. KG", "Personal / Weiterbildung",
       "Königstraße 28", "", "", "", "70173", "Stuttgart", "DE", "EUR", 11, "ORG-602",
       "schwaebische-praezision.example", ["PO-45-3107"]),
    _pp("BA-1010", "René", "Zürcher", "Chemin des Clochettes 8", "1206", "Genève", "Suisse", 2),
    _c("BA-1011", "Züriberg Treuhand GmbH", "Geschäftsleitung", "Gladbachstrasse 33", "", "",
       "ZH", "8044", "Zürich", "Schweiz", "CHF", 7, "ORG-506", "zueriberg-treuhand.example",
       ["PO-ZT-0042"]),
    _pp("BA-1012", "Jörg", "Weiß", "Schloßstraße 12", "12163", "Berlin", "Deutschland", 2,
        cur="EUR"),
    _c("BA-1013", "Gebrüder Jäggi AG", "Personaldienst", "Werkhofstrasse 9", "", "", "SO",
       "4500", "Solothurn", "CH", "CHF", 10, "ORG-507", "jaeggi-bau.example", ["PO-JB-26-7"]),
    _c("BA-1014", "Hanseatische Speditions AG", "Aus- und Fortbildung", "Große Elbstraße 145",
       "", "", "", "22767", "Hamburg", "Deutschland", "EUR", 12, "ORG-603",
       "hanseatische-spedition.example", ["PO-HS-889201"]),
    _pp("BA-1015", "Anaïs", "Favre", "Rue de Bourg 3", "1003", "Lausanne", "Suisse", 2),
    _c("BA-1016", "Säntis Software AG", "People & Culture", "Poststrasse 17", "", "", "SG",
       "9000", "St. Gallen", "Schweiz", "CHF", 12, "ORG-508", "saentis-software.example",
       ["PO-SS-2026-01", "PO-SS-2026-02"]),
    _pp("BA-1017", "Bärbel", "Strauß", "Goethestraße 8", "60313", "Frankfurt am Main", "DE", 2,
        cur="EUR"),
    _c("BA-1018", "Müller & Söhne Metallbau AG", "Personalabteilung", "Zürcherstrasse 301", "",
       "", "ZH", "8400", "Winterthur", "Schweiz", "CHF", 11, "ORG-509", "mueller-metallbau.example",
       ["PO-MS-1187"]),
    _pp("BA-1019", "Beat", "Schönenberger", "Bahnhofstrasse 44", "9500", "Wil SG", "Schweiz", 3),
    _c("BA-1020", "Rheinland Assekuranz AG", "Personalentwicklung", "Hohe Straße 52",
       "3. Etage", "", "", "50667", "Köln", "DE", "EUR", 10, "ORG-604",
       "rheinland-assekuranz.example", ["PO-RA-4711"]),
    _pp("BA-1021", "Chloé", "Märki", "Unterer Graben 19", "8400", "Winterthur", "Schweiz", 3),
    _c("BA-1022", "Groupe Hôtelier Lémanique SA", "Direction des ressources humaines",
       "Avenue de la Gare 22", "", "", "VD", "1003", "Lausanne", "Suisse", "CHF", 9, "ORG-510",
       "hotelier-lemanique.example", ["PO-GHL-2026-33"], people="fr"),
    _pp("BA-1023", "Marco", "Rossi", "Via Nassa 5", "6900", "Lugano", "CH", 1, name=FORMULA_NAME),
    _c("BA-1024", "Bodensee Medizintechnik GmbH", "Personalwesen", "Marktstätte 4", "", "", "",
       "78462", "Konstanz", "Deutschland", "EUR", 9, "ORG-605", "bodensee-medtech.example",
       ["PO-BM-26-301"]),
    _pp("BA-1025", "Sören", "Köhler", "Kaiserstraße 90", "76133", "Karlsruhe", "Deutschland", 2,
        cur="EUR"),
    _c("BA-1026", "Vierwaldstätter Medizintechnik AG", "Personalentwicklung", "Pilatusstrasse 41",
       "", "Postfach 6281", "LU", "6003", "Luzern", "CH", "CHF", 12, "ORG-511",
       "vierwaldstaetter-medtech.example", ["PO-VM-55-120"]),
    _pp("BA-1027", "Ursula", "Gähwiler", "Hauptgasse 31", "4500", "Solothurn", "Schweiz", 2),
    _c("BA-1028", "Donau Consulting GmbH", "Human Resources", "Kärntner Straße 21", "", "",
       "Wien", "1010", "Wien", "Österreich", "EUR", 8, "ORG-701", "donau-consulting.example",
       ["PO-DC-2026-14"]),
    _pp("BA-1029", "Reto", "Hänni", "Alpenstrasse 7", "3800", "Interlaken", "CH", 3),
    _c("BA-1030", "Aare Energie AG", "Bildung & Entwicklung", "Bahnhofquai 12", "", "", "SO",
       "4600", "Olten", "CH", "CHF", 11, "ORG-512", "aare-energie.example", ["PO-AE-3300"]),
    _pp("BA-1031", "Günther", "Groß", "Maximilianstraße 31", "86150", "Augsburg", "Deutschland",
        2, region="Bayern", cur="EUR"),
    _c("BA-1032", "Sakura Precision Co., Ltd.", "Global Human Resources", "1-9-1 Marunouchi",
       "Chiyoda-ku", "", "Tokyo", "100-0005", "Tokyo", "Japan", "JPY", 5, "ORG-801",
       "sakura-precision.example", ["SPC-PO-26-0457"], people="jp"),
    _pp("BA-1033", "Noëmi", "Grünig", "Spalenberg 22", "4051", "Basel", "Schweiz", 2),
    _c("BA-1034", "Zuger Handelshaus AG", "Finanzen & Controlling", "Baarerstrasse 78", "", "",
       "ZG", "6300", "Zug", "Schweiz", "CHF", 12, "ORG-513", "zuger-handelshaus.example",
       ["PO-ZH-26-900"]),
    _pp("BA-1035", "Lena", "Böhm", "Weißenburger Straße 27", "81667", "München", "DE", 2,
        region="Bayern", cur="EUR"),
    _pp("BA-1036", "Stéphane", "Dubois", "Rue de l'Hôpital 15", "2000", "Neuchâtel", "Suisse", 2),
    _pp("BA-1037", "Theresia", "Pröll", "Mariahilfer Straße 77", "1060", "Wien", "Österreich", 2,
        cur="EUR"),
    _pp("BA-1038", "Martina", "Fröhlich", "Dorfstrasse 3", "6343", "Rotkreuz", "Schweiz", 3),
    _pp("BA-1039", "Mathieu", "Koenig", "5 Rue de Huningue", "68300", "Saint-Louis", "Frankreich",
        1),
    _pp("BA-1040", "Rüdiger", "Fuß", "Lindenstraße 4", "79539", "Lörrach", "Deutschland", 2,
        cur="EUR"),
]
ADDR = {a.id: a for a in ADDRESSES}
assert len(ADDR) == 40 and sum(a.rows for a in ADDRESSES) == N_ROWS, sum(a.rows for a in ADDRESSES)

FIRST_NAMES = {
    "de": ["Anna", "Lukas", "Sarah", "Matthias", "Laura", "Stefan", "Nina", "Thomas", "Céline",
           "Jürgen", "Sandra", "Andreas", "Michèle", "Daniel", "Franziska", "Patrick", "Sabine",
           "Florian", "Corinne", "Björn", "Jessica", "Urs", "Katrin", "Dominik", "Tanja",
           "Christoph", "Simone", "Raphael", "Yvonne", "Benedikt", "Zoë", "Markus", "Hanna",
           "Philipp", "Esther", "Fabian", "Doris", "Rolf", "Sibylle", "Kai"],
    "fr": ["Hélène", "François", "Léa", "Jérôme", "Amélie", "Sébastien", "Camille", "Nicolas",
           "Maëlle", "Olivier", "Élodie", "Julien", "Aurélie", "Frédéric"],
    "jp": ["Haruka", "Kenji", "Yuki", "Takeshi", "Aiko", "Hiroshi", "Naomi"],
}
LAST_NAMES = {
    "de": ["Müller", "Meier", "Keller", "Schmid", "Baumann", "Brunner", "Wälti", "Huber",
           "Zimmermann", "Bühler", "Steiner", "Fischer", "Weber", "Schäfer", "Hofmann", "Krämer",
           "Frey", "Graf", "Lehmann", "Schürch", "Bösch", "Egli", "Vogt", "Sutter", "Kübler",
           "Roth", "Studer", "Häberli", "Nussbaum", "Wyss", "Jost", "Gerber", "Lang", "Möller",
           "Schulze", "Hoffmann", "Wagner", "Becker", "Kühn", "Ehrlich"],
    "fr": ["Favre", "Rochat", "Perrin", "Mérillat", "Girard", "Bonvin", "Chappuis", "Lefèvre",
           "Rey", "Métraux", "Pittet", "Gagnebin"],
    "jp": ["Tanaka", "Sato", "Yamamoto", "Kobayashi", "Watanabe", "Suzuki", "Ito"],
}

COMMENTS = [
    "Bitte Rechnung zu Händen Personalabteilung",
    "Vegetarisches Mittagessen, danke",
    "Kostenübernahme durch Arbeitgeber",
    "Rechnung bitte mit Teilnahmebestätigung",
    "Teilnahme an Modul 2 nicht möglich",
    'Bitte "PO-Nummer" auf der Rechnung angeben, sonst keine Zahlung',
    "Anreise am Vorabend; Parkplatz benötigt",
    "Rollstuhlgerechter Zugang erforderlich",
    "Ersatz für Kollegin (Umbuchung)",
    "Rechnung elektronisch an kreditoren@firma, nicht per Post",
]
PHONE_COMMENT = "+41 44 555 12 34 – bitte vor Kursbeginn zurückrufen"
LATE_COMMENT = "Nachverrechnung: Rechnung 2020 nicht erstellt"

STATUS_WEIGHTS = [
    ("Bezahlt", 42), ("Offen", 28), ("Neu", 19), ("Storniert", 4),
    ("Storniert mit Gebühr", 4), ("Ausgebucht", 2), ("Fehler", 1),
]
STATUS_MINIMUM = {"Storniert": 4, "Storniert mit Gebühr": 4, "Ausgebucht": 3, "Fehler": 2}

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def ascii_slug(text: str) -> str:
    """Müller -> mueller, Weiß -> weiss, Hélène -> helene (for user names and e-mails)."""
    text = (text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
            .replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue").replace("ß", "ss"))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in text.lower() if ch.isalnum())


def money_text(currency: str, amount: Decimal) -> str:
    exp = Decimal(1).scaleb(-MINOR_UNITS[currency])
    q = amount.quantize(exp, rounding=ROUND_HALF_UP)
    assert q == amount, f"{currency} {amount} is not exact to the minor unit"
    return f"{currency}{NBSP}{q:f}"


def cancellation_fee(currency: str, price: str) -> str:
    fee = Decimal(price) * CANCELLATION_FEE_PERCENT / Decimal(100)
    return money_text(currency, fee.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]),
                                             rounding=ROUND_HALF_UP))


def random_date(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randint(0, (hi - lo).days))


# --------------------------------------------------------------------------------------------
# Row construction
# --------------------------------------------------------------------------------------------


@dataclass
class Order:
    address: str
    impl: str
    order_date: date            # also used for the booking-number order
    status: str = ""
    payment: str = "Rechnung"
    comment: str = ""
    po: str | None = None       # None -> chosen from the address's PO numbers
    empty_order_date: bool = False
    price_text_override: str | None = None
    special: str = ""           # marker of a hand-made row (kept out of the status shuffle)
    orderer: tuple[str, str, str, str] | None = None  # user name, first, last, e-mail
    booking_number: str = ""


def order_window(impl: Implementation) -> tuple[date, date]:
    if impl.begin.year == 2020:
        return D("2020-06-01"), min(D("2020-07-31"), impl.begin - timedelta(days=3))
    return ORDER_FROM, min(ORDER_TO, impl.begin - timedelta(days=3))


def build_orders(rng: random.Random) -> list[Order]:
    orders: list[Order] = []
    # -- hand-made rows -------------------------------------------------------------------
    special = [
        # 2020: late-billed old orders of German customers (Germany's 16 % period)
        Order("BA-1005", "XL-CTRL-2020-H", D("2020-06-08"), "Offen", po="PO-2020-0815",
              comment=LATE_COMMENT, special="2020"),
        Order("BA-1005", "XL-CTRL-2020-H", D("2020-06-08"), "Offen", po="PO-2020-0815",
              special="2020"),
        Order("BA-1005", "ASI-2020-08", D("2020-07-02"), "Offen", po="PO-2020-0815",
              special="2020"),
        Order("BA-1024", "AGILE-SCRUM-2020-11", D("2020-07-21"), "Neu", po="PO-BM-20-118",
              special="2020"),
        Order("BA-1012", "AGILE-SCRUM-2020-11", D("2020-06-29"), "Offen", special="2020"),
        Order("BA-1017", "ASI-2020-08", D("2020-07-14"), "Neu", special="2020"),
        # the three faulty rows
        Order("BA-1001", "PM-GRUND-2026-H", D("2026-08-20"), "Offen", po="PO-45-2211",
              price_text_override=f"CHF{NBSP}1250,00", special="faulty-decimal-comma"),
        Order("BA-1003", "KOMM-PRAES-2026-H", D("2026-09-15"), "Neu", empty_order_date=True,
              special="faulty-empty-order-date"),
        Order("BA-1039", "DS-PRAX-2026-10", D("2026-09-03"), "Bezahlt",
              special="faulty-country-france"),
        # text that must stay text
        Order("BA-1023", "XL-CTRL-2027-W", D("2026-10-02"), "Neu", special="formula-name"),
        Order("BA-1029", "RW-KOMPAKT-2027-F", D("2026-09-24"), "Offen", comment=PHONE_COMMENT,
              special="phone-comment"),
        # credit-card orders (not the invoice method)
        Order("BA-1038", "ASI-2026-11", D("2026-07-09"), "Bezahlt", payment="Kreditkarte",
              special="credit-card"),
        Order("BA-1019", "XL-CTRL-2026-H", D("2026-08-11"), "Bezahlt", payment="Kreditkarte",
              special="credit-card"),
        Order("BA-1033", "DS-PRAX-2027-02", D("2026-10-19"), "Bezahlt", payment="Kreditkarte",
              special="credit-card"),
    ]
    orders.extend(special)
    used = {}
    for o in special:
        used[o.address] = used.get(o.address, 0) + 1

    # -- generated rows -------------------------------------------------------------------
    for a in ADDRESSES:
        for _ in range(a.rows - used.get(a.id, 0)):
            pool = ONLINE_IMPLS if a.currency == "JPY" else CURRENT_IMPLS
            impl = IMPLEMENTATIONS[rng.choice(pool)]
            lo, hi = order_window(impl)
            od = random_date(rng, lo, hi)
            comment = rng.choice(COMMENTS) if rng.random() < 0.10 else ""
            orders.append(Order(a.id, impl.ref, od, comment=comment))
    assert len(orders) == N_ROWS
    return orders


def assign_statuses(rng: random.Random, orders: list[Order]) -> None:
    labels = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    free = [o for o in orders if not o.special]
    for o in free:
        o.status = rng.choices(labels, weights)[0]
    # make sure the rare labels are present often enough
    for label, minimum in STATUS_MINIMUM.items():
        have = sum(o.status == label for o in orders)
        candidates = [o for o in free if o.status == "Bezahlt"]
        for o in rng.sample(candidates, max(0, minimum - have)):
            o.status = label


def assign_booking_numbers(rng: random.Random, orders: list[Order]) -> list[Order]:
    orders.sort(key=lambda o: (o.order_date, o.address, o.impl, o.special))
    number = 104_212
    last_year = None
    for o in orders:
        if last_year == 2020 and o.order_date.year != 2020:
            number = 187_530            # six years of other orders in between
        last_year = o.order_date.year
        o.booking_number = str(number)
        number += rng.randint(1, 37)
    return orders


def assign_people(rng: random.Random, orders: list[Order]) -> None:
    taken_users: set[str] = set()

    def user_name(first: str, last: str) -> str:
        base = f"{ascii_slug(first)[:1]}{ascii_slug(last)}"
        name, k = base, 1
        while name in taken_users:
            k += 1
            name = f"{base}{k}"
        taken_users.add(name)
        return name

    for a in ADDRESSES:
        mine = [o for o in orders if o.address == a.id]
        if a.person is not None:
            first, last = a.person
            user = user_name(first, last)
            email = f"{ascii_slug(first)}.{ascii_slug(last)}@mail.example"
            for o in mine:
                o.orderer = (user, first, last, email)
            continue
        pool = [(f, l) for f in FIRST_NAMES[a.people] for l in LAST_NAMES[a.people]]
        people = rng.sample(pool, len(mine))
        for o, (first, last) in zip(mine, people):
            email = f"{ascii_slug(first)}.{ascii_slug(last)}@{a.domain}"
            o.orderer = (user_name(first, last), first, last, email)
        # PO numbers: one shared PO, or a split between two
        # (the 2020 rows carry their own, older PO number)
        for o in mine:
            if o.po is None:
                o.po = rng.choice(a.po_numbers)


def fix_first_rows(orders: list[Order]) -> None:
    """The English sample repeats the first rows: make them show the main raw statuses."""
    head = [o for o in orders[:N_EN_ROWS] if not o.special]
    wanted = ["Bezahlt", "Offen", "Neu", "Storniert mit Gebühr", "Storniert"]
    present = {o.status for o in orders[:N_EN_ROWS]}
    for label in wanted:
        if label in present:
            continue
        counts = {s: sum(o.status == s for o in head) for s in present}
        donor = max(counts, key=lambda s: (counts[s], s))
        victim = next(o for o in reversed(head) if o.status == donor)
        victim.status = label
        present = {o.status for o in orders[:N_EN_ROWS]}


def to_record(o: Order) -> dict[int, str]:
    a = ADDR[o.address]
    impl = IMPLEMENTATIONS[o.impl]
    prod = PRODUCTS[impl.product]
    org_name, org_kst = ORGS[prod.org_id]
    if impl.offer:
        offer = impl.offer
    elif (impl.begin - o.order_date).days >= EARLY_BIRD_DAYS:
        offer = "Frühbucher"
    else:
        offer = "Standardpreis"
    price_table = PRICES_2020[prod.ref] if impl.begin.year == 2020 else prod.prices
    amount = price_table[offer][a.currency]
    price = money_text(a.currency, Decimal(amount))
    fee = cancellation_fee(a.currency, amount) if o.status == "Storniert mit Gebühr" else ""
    if o.price_text_override is not None:
        price = o.price_text_override
    user, first, last, email = o.orderer
    values = [
        user, first, last, email,
        prod.name, prod.ref, prod.org_id, org_name,
        impl.name, impl.ref, prod.impl_type, impl.status, impl.fmt,
        impl.begin.isoformat(), impl.end.isoformat(), impl.location,
        o.booking_number, o.status, offer, o.payment, impl.cost_center or org_kst,
        ACCOUNT_BY_TYPE[prod.impl_type],
        o.po or "", o.comment, "" if o.empty_order_date else o.order_date.isoformat(),
        price, fee,
        a.id, a.name, a.addition, a.line1, a.line2, "", "", a.po_box, a.region, a.zip, a.city,
        a.country_text, a.org_id, a.org_name,
    ]
    return dict(zip(range(len(values)), values))


def to_english(rec: dict[int, str]) -> list[str]:
    row = [rec[i] for i in range(len(HEADERS_DE))]
    row[HEADERS_DE.index("Buchungsstatus")] = STATUS_RAW[row[HEADERS_DE.index("Buchungsstatus")]]
    i = HEADERS_DE.index("Durchführungsstatus")
    row[i] = IMPL_STATUS_RAW[row[i]]
    i = HEADERS_DE.index("Angebotstyp")
    row[i] = PAYMENT_METHOD_EN[row[i]]
    return row


def main() -> None:
    rng = random.Random(SEED)
    orders = build_orders(rng)
    assign_statuses(rng, orders)
    orders = assign_booking_numbers(rng, orders)
    assign_people(rng, orders)
    fix_first_rows(orders)
    records = [to_record(o) for o in orders]

    out = HERE / "booking_orders.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(HEADERS_DE)
        for rec in records:
            w.writerow([rec[i] for i in range(len(HEADERS_DE))])

    out_en = HERE / "booking_orders_en.csv"
    with out_en.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(HEADERS_EN)
        for rec in records[:N_EN_ROWS]:
            w.writerow(to_english(rec))

    print(f"wrote {out.name}: {len(records)} rows; {out_en.name}: {N_EN_ROWS} rows")
    for o in orders:
        if o.special.startswith("faulty"):
            print(f"  faulty row {o.booking_number}: {o.special}")


if __name__ == "__main__":
    main()
