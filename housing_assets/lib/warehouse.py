"""Small DuckDB helpers: reading (for the IO manager too), and tables written outside it."""

import pandas as pd


def quoted(identifier: str) -> str:
    """A DuckDB identifier in double quotes: Ames has "Year Remod/Add", "1st Flr SF" and more."""
    return '"' + identifier.replace('"', '""') + '"'


def read_frame(connection, query: str) -> pd.DataFrame:
    """A query's rows as pandas, through Arrow rather than DuckDB's fetchdf().

    Text columns convert 4x faster (293,000 cleaned rows: 5.3 s -> 1.3 s) and repeated strings
    share one Python object. The frame is the same as fetchdf's for the types this pipeline
    writes (int64, float64, bool, text; NULL only in float and text columns), and test_ingest
    compares the two on every table of a run. Other types differ: an integer or boolean column
    with NULLs comes back float64 or object (fetchdf: Int32, boolean), DATE as datetime.date.
    """
    return connection.sql(query).to_arrow_table().to_pandas()


def replace_tables(connection, schema: str, tables: dict[str, pd.DataFrame]) -> None:
    """CREATE OR REPLACE every table inside one transaction: all of them change, or none."""
    connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    connection.execute("BEGIN TRANSACTION")
    try:
        for name, frame in tables.items():
            connection.register("replacement_frame", frame)
            connection.execute(
                f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM replacement_frame'
            )
            connection.unregister("replacement_frame")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def read_table(connection, schema: str, name: str) -> pd.DataFrame | None:
    """The table as a DataFrame, or None if it does not exist yet."""
    # fetchall, not fetchone: DuckDB refuses the next query (read_frame's) on a connection
    # whose last result was not read to its end.
    ((exists,),) = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return read_frame(connection, f'SELECT * FROM "{schema}"."{name}"') if exists else None


def null_counts(connection, schema: str, name: str) -> tuple[pd.Series, int]:
    """NULLs per column of a table (in column order), and its row count: one scan, in DuckDB."""
    columns = [
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]
    if not columns:
        raise LookupError(f'The warehouse has no table "{schema}"."{name}"')
    nulls = ", ".join(f"count(*) - count({quoted(c)})" for c in columns)
    (row,) = connection.execute(f'SELECT count(*), {nulls} FROM "{schema}"."{name}"').fetchall()
    return pd.Series(row[1:], index=columns, dtype="int64"), int(row[0])
