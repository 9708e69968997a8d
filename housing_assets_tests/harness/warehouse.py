"""What a warehouse file holds that a published schema must not: staged copies."""

from pathlib import Path

import duckdb

from housing_assets.lib.data.warehouse import STAGED_SUFFIX


def staged_tables(path: Path, schema: str = "housing") -> list[str]:
    """The staged copies in the file at `path`, and any table of the schema `<schema>_staging`
    where earlier versions staged them."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return [
            f"{found}.{name}"
            for found, name in connection.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where suffix(table_name, ?) or schema_name = ?",
                [STAGED_SUFFIX, f"{schema}_staging"],
            ).fetchall()
        ]
