"""A real dagster-webserver on the project's workspace, started and waited for."""

import subprocess
import sys
import time
from pathlib import Path

from housing_assets.api.client import HousingApi, HousingApiError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 240


def start_webserver(log_path: Path, port: int, env: dict, *extra: str) -> subprocess.Popen:
    """`dagster-webserver` on 127.0.0.1:`port`, in its own process group (so a teardown
    reaches the runs it starts), its output in `log_path`."""
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
             "-w", str(PROJECT_ROOT / "workspace.yaml"), *extra],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_until_serving(
    url: str, process: subprocess.Popen, log_path: Path, timeout: float = STARTUP_TIMEOUT
) -> None:
    """Until the code location answers with assets (the server answers a little earlier)."""
    deadline = time.monotonic() + timeout
    api = HousingApi(url, timeout=5)
    while time.monotonic() < deadline:
        assert process.poll() is None, f"webserver exited:\n{log_path.read_text()[-3000:]}"
        try:
            if api.assets():
                return
        except HousingApiError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not serve assets within {timeout} s")
