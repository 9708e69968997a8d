"""A full disk: the warehouse write names its cause, keeps the published table, and the next
write after space is freed publishes (a real DuckDB file on a small tmpfs; mounting one needs
root, which CI has here; elsewhere the test is skipped with a message)."""

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from housing_assets.resources import Warehouse

# A table whose swap transaction fits in memory but whose COMMIT (the write-ahead log) does not
# fit on an 8 MB disk that already holds its staging copy.
DISK = "8m"
ROWS, COLUMNS = 100_000, 6


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount_point)],
            capture_output=True,
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip(
            "mounting a small tmpfs needs root with the right to mount (CI here runs as root)"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_commit_that_fills_the_disk_names_it_and_keeps_the_table(small_disk):
    warehouse = Warehouse(database=str(small_disk / "warehouse.duckdb"))
    warehouse.publish({"sales": pd.DataFrame({"PID": np.arange(100)})})
    rng = np.random.default_rng(0)
    bigger = pd.DataFrame({f"c{i}": rng.random(ROWS) for i in range(COLUMNS)})

    with pytest.raises(Exception, match="No space left on device") as error:
        warehouse.publish({"sales": bigger})
    assert "warehouse.duckdb.wal" in str(error.value)  # the file that could not be written
    assert "no transaction is active" not in str(error.value)
    pd.testing.assert_frame_equal(warehouse.read("sales"), pd.DataFrame({"PID": np.arange(100)}))

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    warehouse.publish({"sales": bigger})
    assert len(warehouse.read("sales")) == ROWS
