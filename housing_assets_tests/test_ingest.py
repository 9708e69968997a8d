"""Bad input gets a clear error that names the problem, and the warehouse keeps its tables."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from housing_assets.assets.ingestion import raw_housing
from housing_assets.assets.preparation import cleaned_housing, encoded_housing
from housing_assets.lib.data.ingest import SourceError, load_source
from housing_assets.lib.data.warehouse import read_frame
from housing_assets.resources import HousingSource, Warehouse, WarehouseIOManager


def write_variant(tmp_path, ames_csv, edit) -> str:
    frame = pd.read_csv(ames_csv, dtype=str, keep_default_na=False)
    path = tmp_path / "variant.csv"
    edit(frame).to_csv(path, index=False)
    return str(path)


def test_reads_the_real_file(ames_csv):
    raw = load_source(str(ames_csv))
    assert raw.frame.shape == (2930, 82)
    assert raw.n_bytes == ames_csv.stat().st_size
    assert len(raw.sha256) == 64
    assert raw.frame["SalePrice"].dtype.kind == "i"
    assert raw.frame["Lot Frontage"].isna().sum() == 490


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(SourceError, match=f"Source {missing} does not exist"):
        load_source(str(missing))


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match=r"is empty \(0 bytes\)"):
        load_source(str(empty))


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", b'{"not": "csv"}\n'],
    ids=["binary", "json"],
)
def test_not_csv(tmp_path, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="is not a CSV file"):
        load_source(str(path))


def test_missing_columns_are_named(tmp_path, ames_csv):
    path = write_variant(tmp_path, ames_csv, lambda f: f.drop(columns=["Lot Area", "SalePrice"]))
    with pytest.raises(SourceError, match=r"lacks 2 required column\(s\): Lot Area, SalePrice"):
        load_source(path)


def test_text_in_numeric_column(tmp_path, ames_csv):
    def edit(frame):
        frame.loc[[3, 7, 9], "Lot Area"] = ["abc", "12 acres", "abc"]
        return frame

    path = write_variant(tmp_path, ames_csv, edit)
    with pytest.raises(
        SourceError, match=r"column 'Lot Area' has 3 non-numeric value\(s\): 'abc', '12 acres'"
    ):
        load_source(path)


def test_fast_and_careful_parsing_agree(tmp_path, ames_csv):
    """Numbers padded with Unicode spaces and integers beyond float precision read exactly."""
    plain = load_source(str(ames_csv)).frame

    def edit(frame):
        frame.loc[0, "Lot Area"] = "\xa0" + frame.loc[0, "Lot Area"] + "\u3000"
        frame.loc[1, "PID"] = "12345678901234567"  # above 2**53: not exact as a float
        return frame

    edited = load_source(write_variant(tmp_path, ames_csv, edit)).frame
    assert edited.loc[0, "Lot Area"] == plain.loc[0, "Lot Area"] == 31770
    assert edited.loc[1, "PID"] == 12345678901234567
    assert (edited.dtypes == plain.dtypes).all()
    pd.testing.assert_frame_equal(edited.drop(index=1), plain.drop(index=1))


def test_bad_source_keeps_previous_tables(tmp_path, ames_csv):
    database = str(tmp_path / "warehouse.duckdb")
    io_manager = WarehouseIOManager(warehouse=Warehouse(database=database))
    shared = {"io_manager": io_manager, "warehouse": Warehouse(database=database)}
    assets = [raw_housing, cleaned_housing, encoded_housing]
    good = dg.materialize(
        assets, resources={**shared, "source": HousingSource(location=str(ames_csv))}
    )
    assert good.success

    broken = tmp_path / "broken.csv"
    broken.write_text("Order,PID\n1,2\n")
    bad = dg.materialize(
        assets,
        resources={**shared, "source": HousingSource(location=str(broken))},
        raise_on_error=False,
    )
    assert not bad.success
    failure = next(e for e in bad.all_events if e.is_step_failure)
    error = failure.step_failure_data.error.cause
    assert error.cls_name == "MissingColumnsError"
    assert f"Source {broken} lacks 80 required column(s): MS SubClass" in error.message
    # the columns rule's failed result is stored with what it saw, as for any bad feed
    (check,) = bad.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.blocking) == (
        "required_columns_present", False, True,
    )  # fmt: skip
    assert check.metadata["observed"].value == 80
    assert check.metadata["detail"].value.startswith("MS SubClass, MS Zoning")

    with duckdb.connect(database, read_only=True) as conn:
        for table in ("raw_housing", "cleaned_housing", "encoded_housing"):
            assert conn.execute(f"select count(*) from housing.{table}").fetchone()[0] == 2930


def test_io_manager_selects_columns_that_are_not_bare_identifiers(tmp_path):
    """An input's `columns` metadata reaches DuckDB quoted: Ames names have spaces and '/'."""

    @dg.asset
    def wide() -> pd.DataFrame:
        return pd.DataFrame(
            {"Year Remod/Add": [1950, 2001], "1st Flr SF": [856, 1262], "x": [1, 2]}
        )

    @dg.asset(ins={"wide": dg.AssetIn(metadata={"columns": ["Year Remod/Add", "1st Flr SF"]})})
    def narrow(wide: pd.DataFrame) -> pd.DataFrame:
        return wide

    io_manager = WarehouseIOManager(warehouse=Warehouse(database=str(tmp_path / "w.duckdb")))
    result = dg.materialize([wide, narrow], resources={"io_manager": io_manager})
    loaded = result.output_for_node("narrow")
    assert list(loaded.columns) == ["Year Remod/Add", "1st Flr SF"]
    assert loaded["Year Remod/Add"].tolist() == [1950, 2001]


def test_io_manager_reads_every_table_of_a_run_as_fetchdf_would(pipeline_run):
    """The Arrow read path gives DuckDB's own pandas frame (dtypes, NaN) for what the run wrote."""
    from housing_assets import settings

    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        assert len(tables) >= 10  # the three data tables, the drift reference, the EDA tables
        for schema, table in tables:
            query = f'select * from "{schema}"."{table}"'
            pd.testing.assert_frame_equal(read_frame(conn, query), conn.execute(query).fetchdf())


def test_the_published_raw_gaps_are_the_source_files(pipeline_run, raw_frame):
    """The EDA's missing-value table, read back from the warehouse, counts the file's gaps."""
    from housing_assets import settings

    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        table = conn.execute("select * from housing.eda_missing_before_cleaning").fetchdf()
    expected = raw_frame.isna().sum()[lambda n: n > 0]
    assert dict(zip(table["column"], table["missing"], strict=True)) == expected.to_dict()
    counts = table.set_index("column")
    assert counts.loc["Lot Frontage", "missing"] == 490
    assert counts.loc["Pool QC", "missing"] == 2917
    assert counts.loc["Pool QC", "meaning"] == "house has none (documented)"
    assert counts.loc["Lot Frontage", "meaning"] == "missing value"
    assert counts.loc["Lot Frontage", "share_pct"] == round(100 * 490 / 2930, 2)


# ---- URL sources ----------------------------------------------------------------------------


def test_url_source_reads_the_real_file(ames_csv):
    from housing_assets_tests.harness.http_sources import serve

    with serve("ok", ames_csv.read_bytes()) as url:
        raw = load_source(url)
    assert raw.frame.shape == (2930, 82) and raw.n_bytes == ames_csv.stat().st_size


def test_url_that_trickles_stops_at_the_deadline():
    import time

    from housing_assets_tests.harness.http_sources import serve

    with serve("trickle") as url:
        started = time.monotonic()
        with pytest.raises(
            SourceError,
            match=rf"Source {url} did not finish downloading within the 1.5 s deadline \(\d+ bytes received\)",
        ):
            load_source(url, deadline_seconds=1.5)
        assert time.monotonic() - started < 5


def test_url_that_resets_is_a_named_source_error():
    from housing_assets_tests.harness.http_sources import serve

    with serve("reset") as url:
        with pytest.raises(SourceError, match=rf"Source {url} could not be downloaded: \w+"):
            load_source(url)


@pytest.mark.parametrize("kind", ["declared-too-large", "endless"])
def test_url_larger_than_the_cap_is_refused(kind):
    from housing_assets_tests.harness.http_sources import serve

    with serve(kind) as url:
        with pytest.raises(SourceError, match=rf"Source {url} is too large: .*1,000,000"):
            load_source(url, max_bytes=1_000_000)


def test_file_larger_than_the_cap_is_refused(ames_csv):
    with pytest.raises(SourceError, match=r"is too large: 921,784 bytes, the cap is 100,000"):
        load_source(str(ames_csv), max_bytes=100_000)


def test_unreachable_url_is_named():
    with pytest.raises(
        SourceError, match=r"Source http://127.0.0.1:9/x.csv could not be downloaded"
    ):
        load_source("http://127.0.0.1:9/x.csv")
