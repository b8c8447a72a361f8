"""Broken configuration: every problem stops the run with file, row (header = row 1) and column
(DESIGN.md §4). Each case copies sample_data/ and breaks exactly one thing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE
from flows.config import ConfigError, load_config


@pytest.fixture
def cfg(tmp_path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("booking_orders*", "*.py"))
    return folder


def replace_line(path: Path, old: str, new: str) -> int:
    """Replace the one line starting with ``old``; returns its 1-based line number."""
    lines = path.read_text(encoding="utf-8").split("\n")
    hits = [i for i, ln in enumerate(lines) if ln.startswith(old)]
    assert len(hits) == 1, (path.name, old, hits)
    lines[hits[0]] = new + lines[hits[0]][len(old):]
    path.write_text("\n".join(lines), encoding="utf-8")
    return hits[0] + 1


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def config_error(folder: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(folder)
    return str(err.value)


def assert_located(message: str, file: str, row: int, column: str, words: str) -> None:
    """``file.csv:<row> <column>: …words…`` on one line of the message."""
    pattern = rf"{re.escape(file)}:{row} {re.escape(column)}: .*{words}"
    assert re.search(pattern, message), message


def test_the_unbroken_copy_loads(cfg):
    config = load_config(cfg)
    assert config.settings.code == "100"
    assert set(config.tables) >= {"tax_codes", "tax_rules", "exchange_rates", "payment_terms"}


# --- company.toml -----------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, key", [
    ('CHF = "0.05"', "CHF = 0.05", "cash_rounding.CHF"),            # float for a decimal
    ("max_rate_age_days = 10", "max_rate_age_days = 10.0", "max_rate_age_days"),
    ("combine = true", "combine = true\ncombne = false", "combne"),  # typo: unknown key
    ('tax_rounding = "invoice"', 'tax_rounding = "rechnung"', "tax_rounding"),
    ('home_currencies = ["CHF", "EUR", "USD"]', 'home_currencies = ["CHF", "EURO"]',
     "home_currencies"),
])
def test_company_toml_problem_names_the_key(cfg, old, new, key):
    replace_text(cfg / "company.toml", old, new)
    message = config_error(cfg)
    assert "company.toml" in message
    assert re.search(rf"\b{re.escape(key)}: ", message), message


def test_float_for_a_decimal_setting_asks_for_quotes(cfg):
    replace_text(cfg / "company.toml", 'CHF = "0.05"', "CHF = 0.05")
    assert 'in quotes like "0.05"' in config_error(cfg)


def test_missing_required_setting(cfg):
    replace_text(cfg / "company.toml", 'code = "100"\n', "")
    message = config_error(cfg)
    assert "company.toml" in message and "code: required setting is missing" in message


# --- the CSV tables -----------------------------------------------------------------------------

def test_missing_tax_codes_file(cfg):
    (cfg / "tax_codes.csv").unlink()
    message = config_error(cfg)
    assert "tax_codes.csv: no such file" in message


def test_missing_customers_file_is_fine(cfg):
    (cfg / "customers.csv").unlink()
    assert "customers" not in load_config(cfg).tables


def test_tax_rate_with_decimal_comma(cfg):
    row = replace_line(cfg / "tax_codes.csv", "CH-N,CH,8.1,", 'CH-N,CH,"8,1",')
    assert row == 4
    assert_located(config_error(cfg), "tax_codes.csv", row, "rate", "not a number.*'8,1'")


def test_unreadable_number_gives_one_finding_not_two(cfg):
    row = replace_line(cfg / "exchange_rates.csv", "ECB,CHF,EUR,2020-01-03,0.922509,",
                       "ECB,CHF,EUR,2020-01-03,0.9225091,")
    message = config_error(cfg)
    assert_located(message, "exchange_rates.csv", row, "rate", "at most 6 decimals")
    assert message.count("\n") == 0, message  # no extra "must be positive" for the same cell


def test_overlapping_tax_code_periods(cfg):
    replace_line(cfg / "tax_codes.csv", "CH-N,CH,7.7,2018-01-01,2023-12-31",
                 "CH-N,CH,7.7,2018-01-01,2024-06-30")
    row = next(i for i, ln in enumerate((cfg / "tax_codes.csv").read_text().split("\n"), 1)
               if ln.startswith("CH-N,CH,8.1,"))
    assert_located(config_error(cfg), "tax_codes.csv", row, "valid_from", "overlaps")


def test_open_ended_period_followed_by_another(cfg):
    row = replace_line(cfg / "tax_codes.csv", "DE-7,DE,5,2020-07-01,2020-12-31",
                       "DE-7,DE,5,2020-07-01,")
    assert_located(config_error(cfg), "tax_codes.csv", row + 1, "valid_from", "overlaps")


def test_negative_tax_rate(cfg):
    row = replace_line(cfg / "tax_codes.csv", "CH-R,CH,2.6,", "CH-R,CH,-2.6,")
    assert_located(config_error(cfg), "tax_codes.csv", row, "rate", "negative")


def test_tax_date_not_a_date(cfg):
    row = replace_line(cfg / "tax_codes.csv", "CH-B,CH,3.8,2024-01-01", "CH-B,CH,3.8,01.13.2024")
    assert_located(config_error(cfg), "tax_codes.csv", row, "valid_from", "not a date")


def test_unknown_currency_in_exchange_rates(cfg):
    row = replace_line(cfg / "exchange_rates.csv", "ECB,USD,EUR,2021-03-01",
                       "ECB,USX,EUR,2021-03-01")
    assert row > 1000
    assert_located(config_error(cfg), "exchange_rates.csv", row, "from_currency",
                   "unknown currency")


def test_zero_rate_factor(cfg):
    path = cfg / "exchange_rates.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith("ECB,JPY,CHF,2022-06-01,"))
    lines[i] = lines[i].rsplit(",", 1)[0] + ",0"  # factor 0
    path.write_text("\n".join(lines), encoding="utf-8")
    assert_located(config_error(cfg), "exchange_rates.csv", i + 1, "factor", "must be positive")


def test_duplicate_payment_term_code(cfg):
    row = replace_line(cfg / "payment_terms.csv", "N10,10 Tage netto", "N30,10 Tage netto")
    message = config_error(cfg)
    assert_located(message, "payment_terms.csv", row, "code", "more than once")
    assert_located(message, "payment_terms.csv", row + 1, "code", "more than once")


def test_tax_rule_naming_an_unknown_tax_code(cfg):
    row = replace_line(cfg / "tax_rules.csv", ",,DE,DE-19,", ",,DE,DE-20,")
    assert row == 5
    assert_located(config_error(cfg), "tax_rules.csv", row, "tax_code", "not in tax_codes.csv")


@pytest.mark.parametrize("new", [
    'S2,"14 Tage 2 % Skonto, 30 Tage netto",30,14,,',   # days without percent
    'S2,"14 Tage 2 % Skonto, 30 Tage netto",30,,2,',    # percent without days
])
def test_payment_term_discount_needs_days_and_percent(cfg, new):
    row = replace_line(cfg / "payment_terms.csv", 'S2,"14 Tage 2 % Skonto, 30 Tage netto",30,14,2,',
                       new)
    assert_located(config_error(cfg), "payment_terms.csv", row, "discount_days_1",
                   "both days and percent")


def test_payment_term_percent_of_100_or_more(cfg):
    row = replace_line(cfg / "payment_terms.csv", 'S2,"14 Tage 2 % Skonto, 30 Tage netto",30,14,2,',
                       'S2,"14 Tage 2 % Skonto, 30 Tage netto",30,14,100,')
    assert_located(config_error(cfg), "payment_terms.csv", row, "discount_percent_1",
                   "below 100")


def test_customer_with_unknown_payment_terms(cfg):
    row = replace_line(cfg / "customers.csv", "BA-1001,BP-000123,S2,", "BA-1001,BP-000123,S9,")
    assert_located(config_error(cfg), "customers.csv", row, "payment_terms",
                   "not in payment_terms.csv")


def test_customer_email_must_be_one_address(cfg):
    row = replace_line(cfg / "customers.csv", "BA-1001,", "BA-1001,")  # its line number
    replace_text(cfg / "customers.csv", "rechnungen@bp-000123.example",
                 "rechnungen@bp-000123.example; mahnungen@bp-000123.example")
    assert_located(config_error(cfg), "customers.csv", row, "email", "not an e-mail address")


@pytest.mark.parametrize("value, ok", [('"address_id"', True), ('"reject"', True),
                                       ('"ignore"', False)])
def test_unknown_customer_setting(cfg, value, ok):
    replace_text(cfg / "company.toml", 'code = "100"\n',
                 f'code = "100"\nunknown_customer = {value}\n')
    if ok:
        assert load_config(cfg).settings.unknown_customer == value.strip('"')
    else:
        assert "unknown_customer: expected one of address_id, reject" in config_error(cfg)


def test_customers_without_the_email_column_load(cfg):
    """customers.csv of before the e-mail column still loads (the column is optional)."""
    path = cfg / "customers.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(ln.rsplit(",", 1)[0] for ln in lines) + "\n", encoding="utf-8")
    assert "email" not in load_config(cfg).tables["customers"].columns or \
        load_config(cfg).tables["customers"]["email"].isna().all()


def test_missing_column_names_the_expected_header(cfg):
    path = cfg / "tax_rules.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("cost_center,product_ref,country,tax_code,",
                                 "cost_center,product_ref,country,code,", 1), encoding="utf-8")
    message = config_error(cfg)
    assert "tax_rules.csv" in message and "missing column(s) tax_code" in message


def test_row_numbers_count_blank_lines(cfg):
    """An empty line left in the file is skipped, and later rows keep the number the user sees
    in the editor (pandas would otherwise count only the non-blank rows)."""
    path = cfg / "tax_codes.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines.insert(3, "")       # blank line 4
    lines.insert(6, ",,,,,")  # a row Excel leaves with only separators
    path.write_text("\n".join(lines), encoding="utf-8")
    load_config(cfg)  # blank rows alone are not an error
    row = replace_line(path, "CH-N,CH,8.1,", 'CH-N,CH,"8,1",')
    assert row == 5
    assert_located(config_error(cfg), "tax_codes.csv", row, "rate", "not a number")


def test_every_problem_is_reported_not_only_the_first(cfg):
    r1 = replace_line(cfg / "tax_codes.csv", "CH-N,CH,8.1,", 'CH-N,CH,"8,1",')
    r2 = replace_line(cfg / "payment_terms.csv", "N10,10 Tage netto,10", "N10,10 Tage netto,zehn")
    message = config_error(cfg)
    assert_located(message, "tax_codes.csv", r1, "rate", "not a number")
    assert_located(message, "payment_terms.csv", r2, "net_days", "not a whole number")


def test_reference_file_not_utf8(cfg):
    path = cfg / "tax_rules.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    message = config_error(cfg)
    assert "tax_rules.csv" in message and "UTF-8" in message


def test_cash_rounding_finer_than_the_currency_is_refused(tmp_path):
    import shutil

    from flows.config import ConfigError, load_config

    conf = tmp_path / "conf"
    shutil.copytree(Path(__file__).resolve().parent.parent / "sample_data", conf)
    toml = conf / "company.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('CHF = "0.05"', 'JPY = "0.05"'),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cash_rounding\.JPY: '0\.05' is not a positive"):
        load_config(conf)


def _overlaps_by_groupby(code, start, end):
    """The plain reference of reference.overlaps: pandas' sort and group-by."""
    out = pd.DataFrame({"tax_code": code, "valid_from": start, "valid_to": end})
    ordered = out.reset_index().sort_values(["tax_code", "valid_from"])
    prev_end = ordered.groupby("tax_code")["valid_to"].shift()
    prev_open = ordered.groupby("tax_code")["valid_to"].shift().isna() & \
        ordered.groupby("tax_code").cumcount().gt(0)
    overlap = (prev_end >= ordered["valid_from"]) | prev_open
    return out.index.isin(ordered.index[overlap.to_numpy()])


# few codes and days, so that periods meet, touch and share a code often
_DAY = st.one_of(st.none(), st.integers(0, 4).map(
    lambda d: pd.Timestamp("2026-01-01") + pd.Timedelta(days=d)))
_D = [pd.Timestamp(f"2026-01-0{d}") for d in range(1, 5)]


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", None]), _DAY, _DAY), max_size=12))
@example([("A", _D[0], _D[1]), ("A", _D[1], None)])  # ends the day the next begins
@example([("A", _D[0], _D[1]), ("A", _D[2], None)])  # the day after: no overlap
@example([("A", _D[0], None), ("A", _D[2], _D[3])])  # after an open-ended period
@example([(None, _D[0], _D[2]), (None, _D[1], None)])  # a missing code is nobody's
def test_period_overlaps_are_found_as_the_group_by_finds_them(rows):
    from transforms.reference import overlaps
    code = pd.Series([r[0] for r in rows], dtype="str")
    start = pd.Series([r[1] for r in rows], dtype="datetime64[ns]")
    end = pd.Series([r[2] for r in rows], dtype="datetime64[ns]")
    assert overlaps(code, start, end).tolist() == _overlaps_by_groupby(code, start, end).tolist()



# number texts as tables hold them: repeated, blank, with too many decimals, not numbers
_NUMBER_TEXT = st.one_of(
    st.sampled_from(["1", "0", "30", "7", "", "null", "2.5", "0.920387", "1.0000000", "x",
                     "1e3", "-3", "08", "12.34567", "100"]),
    st.decimals(min_value=-10**6, max_value=10**6, places=7, allow_nan=False).map(str))


def _cell_by_decimal(text: str, digits: int):
    """One cell as the contract reads it: a plain decimal with at most ``digits`` decimals,
    in units of ``10**-digits``; anything else is None."""
    from decimal import Decimal
    if not re.fullmatch(r"-?[0-9]{1,15}(\.[0-9]*)?", text):
        return None
    scaled = Decimal(text).scaleb(digits)
    return int(scaled) if scaled == scaled.to_integral_value() else None


@settings(deadline=None)
@given(st.lists(st.tuples(_NUMBER_TEXT, _NUMBER_TEXT, _NUMBER_TEXT), min_size=1, max_size=30))
def test_table_numbers_read_as_decimal_reads_each_cell(rows):
    """The number columns of a table are read together, each distinct text once: every cell
    is still read at its own column's decimals (the same text in a whole-number and a percent
    column at each one's), as Decimal reads it; a blank cell is 0, masked later."""
    from transforms.parse import stripped_blanks
    from transforms.reference import _numbers
    spec = {"a": "int", "b": "percent?", "c": "int?"}
    raw = pd.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(spec)}, dtype="str")
    got = _numbers(spec, stripped_blanks(raw, spec), len(raw))
    for c, digits in (("a", 0), ("b", 4), ("c", 0)):
        value, ok = got[c]
        for i, text in enumerate(raw[c]):
            want = 0 if text in ("", "null") else _cell_by_decimal(text, digits)
            assert (bool(ok[i]), int(value[i]) if ok[i] else None) == (
                want is not None, want), (c, text)


def _pandas_table(data: bytes):
    """How pandas reads a table file (the reader of record), or the kind of its refusal."""
    import io
    try:
        return pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False,
                           encoding="utf-8-sig", skipinitialspace=False, skip_blank_lines=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        return type(err).__name__


_CSV_PIECES = st.sampled_from(["a", "b", "1", "0.92", " ", ",", "\n", "\r\n", "\r", "é", "",
                               "null", "NA", "\t", ";", "x y", "\ufeff"])


@settings(deadline=None)
@given(st.lists(_CSV_PIECES, max_size=40).map("".join), st.booleans(), st.booleans())
@example("rate_type,rate\nECB,0.92\n\nECB,1\n", False, False)  # a blank line is a row
@example("a,b\r1,2\r", False, False)  # old Mac line ends
@example("a,a\n1,2\n", False, False)  # pandas renames a repeated header
@example("\ufeffa\n", True, False)  # a second byte order mark: pandas drops it too
def test_a_table_without_quotes_reads_as_pandas_reads_it(text, bom, latin1):
    """Arrow reads the plain tables (no quotes): the cells pandas reads, or pandas reads the
    file itself; a file that is not UTF-8 is pandas' to refuse."""
    from flows.config import _read_plain_csv
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("latin-1" if latin1 else "utf-8",
                                                          errors="replace")
    fast = _read_plain_csv(data)
    if fast is None:
        return
    want = _pandas_table(data)
    assert not isinstance(want, str), (data, want)
    pd.testing.assert_frame_equal(fast, want)
    assert [type(a) for a in fast.dtypes] == [type(a) for a in want.dtypes]


def test_the_plain_reader_reads_the_sample_tables():
    """Arrow reads the sample's tables without quotes (the exchange rates among them), as
    pandas does; pandas those with quotes."""
    from flows.config import _read_plain_csv
    plain = set()
    for path in sorted(SAMPLE.glob("*.csv")):
        data = path.read_bytes()
        if path.name.startswith("booking_orders"):
            continue
        fast = _read_plain_csv(data)
        assert (fast is None) == (b'"' in data), path.name
        if fast is not None:
            plain.add(path.name)
            pd.testing.assert_frame_equal(fast, _pandas_table(data))
    assert "exchange_rates.csv" in plain
