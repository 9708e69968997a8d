"""SQL users of the warehouse as real second processes (DuckDB's own file locks)."""

import subprocess
import sys
import textwrap

# Holds one read-only connection on the users' file from before the run until told to stop
# (a DBeaver or duckdb CLI window left open), counting the raw table at both ends.
HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    connection = duckdb.connect(sys.argv[1], read_only=True)
    count = "select count(*) from housing.raw_housing"
    print(connection.execute(count).fetchone()[0], flush=True)
    sys.stdin.readline()
    print(connection.execute(count).fetchone()[0], flush=True)
    """
)

# Opens the users' file, counts the raw table and closes it, again and again until the stop
# file appears, then once more; prints its first count at once, then every count seen (the
# last one after the stop) and every error.
LOOPER = textwrap.dedent(
    """
    import json, os, sys, time, duckdb
    path, stop = sys.argv[1], sys.argv[2]
    counts, errors = [], []
    with duckdb.connect(path, read_only=True) as connection:
        first = connection.execute("select count(*) from housing.raw_housing").fetchone()[0]
    print(first, flush=True)
    stopped = False
    while not stopped:
        stopped = os.path.exists(stop)
        try:
            with duckdb.connect(path, read_only=True) as connection:
                counts.append(
                    connection.execute("select count(*) from housing.raw_housing").fetchone()[0]
                )
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.02)
    print(json.dumps({"counts": counts, "errors": errors}))
    """
)


def python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], text=True, stdout=subprocess.PIPE, **kwargs
    )
