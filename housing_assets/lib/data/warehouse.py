"""Small DuckDB helpers: reading and publishing tables (for the IO manager too)."""

import contextlib
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd


def quoted(identifier: str) -> str:
    """A DuckDB identifier in double quotes: Ames has "Year Remod/Add", "1st Flr SF" and more."""
    return '"' + identifier.replace('"', '""') + '"'


def read_frame(connection, query: str) -> pd.DataFrame:
    """A query's rows as pandas, through Arrow rather than DuckDB's fetchdf().

    Text columns convert several times faster and repeated strings share one Python object
    (benchmarks/HISTORY.md). The frame is the same as fetchdf's for the types this pipeline
    writes (int64, float64, bool, text; NULL only in float and text columns), and test_ingest
    compares the two on every table of a run. Other types differ: an integer or boolean column
    with NULLs comes back float64 or object (fetchdf: Int32, boolean), DATE as datetime.date.
    """
    return connection.sql(query).to_arrow_table().to_pandas()


# A table is written under its own name plus this before it is swapped in. The space and the
# parentheses keep it from ever being an asset's name.
STAGED_SUFFIX = " (staged)"


def staged_name(name: str) -> str:
    return f"{name}{STAGED_SUFFIX}"


def publish_tables(connection, schema: str, tables: dict[str, pd.DataFrame]) -> None:
    """Stage every frame beside its table, then swap them all in, in one transaction.

    The slow part (turning frames into tables) writes only the staged copies. The swap drops
    each published table and renames its staged copy in its place, in one short transaction,
    so a reader or a killed run sees the old tables or the new ones, never a mix. No table is
    written twice: the copies are staged in the tables' own schema because DuckDB renames a
    table only within its schema. A write that fails drops the copies it staged; a killed one
    leaves them until the next write of the same table, and the users' copy never holds them
    (`drop_staged`).
    """
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
    staged = {name: f"{quoted(schema)}.{quoted(staged_name(name))}" for name in tables}
    try:
        for name, frame in tables.items():
            connection.register("staged_frame", frame)
            try:
                connection.execute(
                    f"CREATE OR REPLACE TABLE {staged[name]} AS SELECT * FROM staged_frame"
                )
            finally:
                connection.unregister("staged_frame")
        connection.execute("BEGIN TRANSACTION")
        try:
            for name in tables:
                connection.execute(f"DROP TABLE IF EXISTS {quoted(schema)}.{quoted(name)}")
                connection.execute(f"ALTER TABLE {staged[name]} RENAME TO {quoted(name)}")
            connection.execute("COMMIT")
        except BaseException:
            rollback(connection)
            raise
    except BaseException:
        for table in staged.values():
            with contextlib.suppress(duckdb.Error):  # a full disk may refuse this too
                connection.execute(f"DROP TABLE IF EXISTS {table}")
        raise


def drop_staged(connection, schema: str) -> None:
    """Drop the staged copies a killed write left behind, and the schema `<schema>_staging`
    where states made before copies were staged beside their tables kept them, if it is empty
    (a schema of that name that holds tables is not this module's to delete)."""
    leftovers = connection.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND suffix(table_name, ?)",
        [schema, STAGED_SUFFIX],
    ).fetchall()
    for (name,) in leftovers:
        connection.execute(f"DROP TABLE {quoted(schema)}.{quoted(name)}")
    retired = schema + "_staging"
    ((held,),) = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ?", [retired]
    ).fetchall()
    if not held:
        connection.execute(f"DROP SCHEMA IF EXISTS {quoted(retired)}")


class ReplicaError(OSError):
    """The users' copy of the warehouse could not be replaced; the message names the file."""


def publish_replica(connection, database: str, replica: str, schema: str) -> None:
    """Replace `replica` with a copy of `database`, the file `connection` has open for writing.

    The copy is made while the connection is held, so no other run writes in between, without
    staged copies (`drop_staged`), and after a CHECKPOINT, so the file holds every committed
    table and its write-ahead log is empty. It is written beside the replica and renamed over
    it: a reader with the replica open keeps the old file (its inode) until it closes it, a
    reader that opens it afterwards gets the new one, and nobody ever sees half a copy. The
    pipeline never opens the replica, so a reader's lock on it stops nothing.
    """
    drop_staged(connection, schema)
    connection.execute("CHECKPOINT")
    staged = f"{replica}.publishing"
    try:
        shutil.copyfile(database, staged)
        os.replace(staged, replica)
    except OSError as error:
        with contextlib.suppress(OSError):  # a failed clean-up must not hide the cause
            Path(staged).unlink(missing_ok=True)
        raise ReplicaError(
            f"The copy users query, {replica}, could not be replaced with the runs' file "
            f"{database} ({error}); it still holds the previous tables, and the runs' file "
            "keeps what was published"
        ) from error


def replica_is_stale(database: str, replica: str) -> bool:
    """Whether the runs' file changed after the users' copy was made (or there is none)."""
    if not os.path.exists(database):
        return False
    return not os.path.exists(replica) or os.path.getmtime(database) > os.path.getmtime(replica)


class DiskSpaceError(OSError):
    """Too little free space to start a run; the message names the directory and the fix."""


def require_free_space(directory: Path, minimum_bytes: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < minimum_bytes:
        raise DiskSpaceError(
            f"Only {free / 1e6:.1f} MB is free on the disk of {directory}; a run needs at least "
            f"{minimum_bytes / 1e6:.0f} MB to write its tables, models and reports and to record "
            "how it ended. Nothing was written: free some space and run again (the limit is the "
            "warehouse resource's min_free_mb)."
        )


def adopt_replica(database: Path, replica: Path) -> None:
    """A state from before the runs had a file of their own: its only warehouse (now the
    users' copy) becomes the runs' file too, so its tables and pinned reference carry over."""
    if not database.exists() and replica.exists():
        shutil.copyfile(replica, database)


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


def require_table(connection, schema: str, name: str) -> str:
    """The table's quoted name in a query; a missing table is named in the error."""
    if not table_exists(connection, schema, name):
        raise LookupError(
            f'The warehouse has no table "{schema}"."{name}": materialise {name} first'
        )
    return f"{quoted(schema)}.{quoted(name)}"


def read_columns(
    connection, schema: str, name: str, columns: list[str] | None = None
) -> pd.DataFrame:
    """A published table, or some of its columns; a missing table is named in the error."""
    table = require_table(connection, schema, name)
    selected = ", ".join(quoted(c) for c in columns) if columns else "*"
    return read_frame(connection, f"SELECT {selected} FROM {table}")


def table_columns(connection, schema: str, name: str) -> list[str]:
    """A published table's column names, in order."""
    table = require_table(connection, schema, name)
    return list(read_frame(connection, f"SELECT * FROM {table} LIMIT 0").columns)


def read_rows(connection, schema: str, name: str, column: str, values) -> pd.DataFrame:
    """The rows of a published table whose `column` holds one of `values`, in the table's
    own order: a step that needs a few rows of a large table reads only those."""
    table = require_table(connection, schema, name)
    connection.register("wanted_values", pd.DataFrame({"value": pd.unique(pd.Series(values))}))
    try:
        return read_frame(
            connection,
            f"SELECT * FROM {table} WHERE {quoted(column)} IN "
            "(SELECT value FROM wanted_values) ORDER BY rowid",
        )
    finally:
        connection.unregister("wanted_values")


def missing_counts(connection, schema: str, name: str) -> tuple[pd.Series, int]:
    """How many NULLs each column of a published table holds, and its rows, counted by the
    warehouse without reading the table: the `isna().sum()` of the frame it was written from,
    whose NaN and None are stored as NULL."""
    columns = table_columns(connection, schema, name)
    counts = ", ".join(f"count(*) - count({quoted(c)})" for c in columns)
    table = require_table(connection, schema, name)
    ((rows, *missing),) = connection.execute(f"SELECT count(*), {counts} FROM {table}").fetchall()
    return pd.Series(missing, index=columns, dtype="int64"), int(rows)


def read_table(connection, schema: str, name: str) -> pd.DataFrame | None:
    """The table as a DataFrame, or None if it does not exist yet."""
    return (
        read_columns(connection, schema, name) if table_exists(connection, schema, name) else None
    )
