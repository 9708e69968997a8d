"""Copies of a state directory that work where they land: backups, restores, test states.

A state directory records where it lives: MLflow's SQLite store holds absolute artifact
locations (experiments, runs, logged models, model versions) and each logged model's MLmodel
file names its own location; Dagster's SQLite storages hold the paths of the run's metadata.
A copy whose store still pointed at the original would log new artifacts into it, so
`copy_state` rewrites every occurrence of the source path in the copy's SQLite text values and
text files. Each SQLite file is copied through SQLite's backup API, which gives a consistent
database even while the source is open (Dagster keeps its storages open, in WAL mode). DuckDB
files hold no paths and are copied as they are, so a copy is consistent only while no run
writes the warehouse.

`housing-dev --backup DIR` and `--restore DIR` are this copy; the tests' golden state is too.
"""

import shutil
import sqlite3
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_SIDE_FILES = ("*-journal", "*-wal", "*-shm")
TEXT_FILES = ("MLmodel", ".yaml", ".yml", ".json")


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _spellings(path: Path) -> list[str]:
    """The path as written and resolved (a symlinked temp dir has two)."""
    return sorted({str(path), str(path.resolve())}, key=len, reverse=True)


def _rewrite(text: str, old: list[str], new: str) -> str:
    """`old` → `new` where it is the whole value or a leading directory of a path in it."""
    for spelling in old:
        text = new if text == spelling else text.replace(spelling + "/", new + "/")
    return text


def _copy_sqlite(source: Path, destination: Path, old: list[str], new: str) -> None:
    original, copy = sqlite3.connect(source), sqlite3.connect(destination)
    try:
        original.backup(copy)
        _rewrite_tables(copy, old, new)
        copy.commit()
    finally:
        original.close()
        copy.close()


def table_columns(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    """(table, column) of every column of every user table."""
    tables = [
        name
        for (name,) in connection.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        )
    ]
    return [
        (table, row[1])
        for table in tables
        for row in connection.execute(f'pragma table_info("{table}")').fetchall()
    ]


def _rewrite_tables(copy: sqlite3.Connection, old: list[str], new: str) -> None:
    """`_rewrite` every text value that holds a spelling of the old path."""
    copy.create_function("rewrite_path", 1, lambda v: _rewrite(v, old, new))
    for table, column in table_columns(copy):
        holds = " or ".join(f'instr("{column}", ?) > 0' for _ in old)
        copy.execute(
            f'update "{table}" set "{column}" = rewrite_path("{column}") '
            f"where typeof(\"{column}\") = 'text' and ({holds})",
            old,
        )


def copy_state(source: Path, destination: Path) -> Path:
    """Copy the state directory `source` to `destination` (which must not exist yet) and
    point every path inside the copy at the copy."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*SQLITE_SIDE_FILES))
    old, new = _spellings(source), str(destination.resolve())
    for path in destination.rglob("*"):
        if not path.is_file():
            continue
        if _is_sqlite(path):
            path.unlink()
            _copy_sqlite(source / path.relative_to(destination), path, old, new)
        elif path.name.endswith(TEXT_FILES):
            text = path.read_text()
            rewritten = _rewrite(text, old, new)
            if rewritten != text:
                path.write_text(rewritten)
    return destination
