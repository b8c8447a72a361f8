"""schemas.dtypes.TEXT must judge every column as pandera's own "str" does, failures alike."""

import pandas as pd
import pandera.pandas as pa
import pytest

from schemas.dtypes import TEXT

COLUMNS = {
    "text": pd.Series(["a", None, ""], dtype="str"),
    "empty text": pd.Series([], dtype="str"),
    "python-stored text": pd.Series(["a"], dtype=pd.StringDtype("python", na_value=float("nan"))),
    "nullable string": pd.Series(["a", None], dtype="string"),
    "object of text": pd.Series(["a", "b"], dtype=object),
    "object, mixed": pd.Series(["a", 1, None], dtype=object),
    "empty object": pd.Series([], dtype=object),
    "integers": pd.Series([1, 2]),
    "dates": pd.Series(pd.to_datetime(["2026-01-01"])),
}


def verdict(dtype, column: pd.Series, nullable: bool):
    schema = pa.DataFrameSchema({"x": pa.Column(dtype, nullable=nullable)})
    try:
        schema.validate(pd.DataFrame({"x": column}), lazy=True)
    except pa.errors.SchemaErrors as err:
        return err.failure_cases.sort_index(axis=1).to_dict("records")
    return "valid"


@pytest.mark.parametrize("nullable", [True, False])
@pytest.mark.parametrize("name", list(COLUMNS))
def test_same_verdict_as_pandera_str(name, nullable):
    column = COLUMNS[name]
    assert verdict(TEXT, column, nullable) == verdict("str", column, nullable)


def test_a_wrong_column_still_fails():
    assert verdict(TEXT, COLUMNS["object, mixed"], True) != "valid"
    assert verdict(TEXT, COLUMNS["integers"], True) != "valid"
