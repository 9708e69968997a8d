"""Copies of a materialised state directory, so a whole-graph run is paid once per session.

A state directory records where it lives: MLflow's SQLite store holds absolute artifact
locations (experiments, runs, logged models, model versions) and each logged model's MLmodel
file names its own location; Dagster's SQLite storages hold the paths of the run's metadata.
A copy whose store still pointed at the original would log new artifacts into it, so
`copy_state` rewrites every occurrence of the source path in the copy's SQLite tables and
text files. DuckDB files hold no paths and are copied as they are.
"""

import shutil
import sqlite3
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
TEXT_FILES = ("MLmodel", ".yaml", ".yml", ".json")


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _rewrite_sqlite(path: Path, old: str, new: str) -> int:
    """Replace `old` by `new` in every text column of every table; the rows changed."""
    changed = 0
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
            )
        ]
        for table in tables:
            columns = [
                row[1]
                for row in connection.execute(f'pragma table_info("{table}")')
                if row[2].upper() in ("", "TEXT", "VARCHAR") or "CHAR" in row[2].upper()
            ]
            for column in columns:
                changed += connection.execute(
                    f'update "{table}" set "{column}" = replace("{column}", ?, ?) '
                    f'where instr("{column}", ?) > 0',
                    (old, new, old),
                ).rowcount
    connection.close()
    return changed


def copy_state(source: Path, destination: Path) -> Path:
    """Copy the state directory `source` to `destination` (which must not exist yet) and
    point every path inside the copy at the copy."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("*-journal"))
    old, new = str(source), str(destination)
    for path in destination.rglob("*"):
        if not path.is_file():
            continue
        if _is_sqlite(path):
            _rewrite_sqlite(path, old, new)
        elif path.name.endswith(TEXT_FILES):
            text = path.read_text()
            if old in text:
                path.write_text(text.replace(old, new))
    return destination
