"""Small DuckDB helpers: reading and publishing tables (for the IO manager too)."""

import duckdb
import pandas as pd


def quoted(identifier: str) -> str:
    """A DuckDB identifier in double quotes: Ames has "Year Remod/Add", "1st Flr SF" and more."""
    return '"' + identifier.replace('"', '""') + '"'


def read_frame(connection, query: str) -> pd.DataFrame:
    """A query's rows as pandas, through Arrow rather than DuckDB's fetchdf().

    Text columns convert several times faster and repeated strings share one Python object
    (README, Scale). The frame is the same as fetchdf's for the types this pipeline
    writes (int64, float64, bool, text; NULL only in float and text columns), and test_ingest
    compares the two on every table of a run. Other types differ: an integer or boolean column
    with NULLs comes back float64 or object (fetchdf: Int32, boolean), DATE as datetime.date.
    """
    return connection.sql(query).to_arrow_table().to_pandas()


def staging_schema(schema: str) -> str:
    return f"{schema}_staging"


def publish_tables(connection, schema: str, tables: dict[str, pd.DataFrame]) -> None:
    """Stage every frame, then swap them all in as `schema.<name>` in one transaction.

    The slow part (turning frames into tables) writes only staging copies; the published
    tables change together in one short transaction, so a reader or a killed run sees the old
    tables or the new ones, never a mix. The staging copies are dropped in that transaction.
    """
    staging = staging_schema(schema)
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(staging)}")
    for name, frame in tables.items():
        connection.register("staged_frame", frame)
        try:
            connection.execute(
                f"CREATE OR REPLACE TABLE {quoted(staging)}.{quoted(name)} AS "
                "SELECT * FROM staged_frame"
            )
        finally:
            connection.unregister("staged_frame")
    connection.execute("BEGIN TRANSACTION")
    try:
        for name in tables:
            connection.execute(
                f"CREATE OR REPLACE TABLE {quoted(schema)}.{quoted(name)} AS "
                f"SELECT * FROM {quoted(staging)}.{quoted(name)}"
            )
            connection.execute(f"DROP TABLE {quoted(staging)}.{quoted(name)}")
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise


def rollback(connection) -> None:
    """Roll back the open transaction, if DuckDB has not already: a COMMIT that fails (a full
    disk) aborts it, and a ROLLBACK then fails with "no transaction is active", which would
    hide the real error."""
    try:
        connection.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


def table_exists(connection, schema: str, name: str) -> bool:
    # fetchall, not fetchone: DuckDB refuses the next query on a connection whose last result
    # was not read to its end.
    ((exists,),) = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(exists)


def read_columns(
    connection, schema: str, name: str, columns: list[str] | None = None
) -> pd.DataFrame:
    """A published table, or some of its columns; a missing table is named in the error."""
    if not table_exists(connection, schema, name):
        raise LookupError(
            f'The warehouse has no table "{schema}"."{name}": materialise {name} first'
        )
    selected = ", ".join(quoted(c) for c in columns) if columns else "*"
    return read_frame(connection, f"SELECT {selected} FROM {quoted(schema)}.{quoted(name)}")


def read_table(connection, schema: str, name: str) -> pd.DataFrame | None:
    """The table as a DataFrame, or None if it does not exist yet."""
    return (
        read_columns(connection, schema, name) if table_exists(connection, schema, name) else None
    )
