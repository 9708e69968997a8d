"""Small DuckDB helpers for tables written outside the IO manager (EDA tables, drift reference)."""

import pandas as pd


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
    exists = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()[0]
    return connection.execute(f'SELECT * FROM "{schema}"."{name}"').fetchdf() if exists else None


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
    nulls = ", ".join('count(*) - count("' + c.replace('"', '""') + '")' for c in columns)
    row = connection.execute(f'SELECT count(*), {nulls} FROM "{schema}"."{name}"').fetchone()
    return pd.Series(row[1:], index=columns, dtype="int64"), int(row[0])
