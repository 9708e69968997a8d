"""The run launcher's health check, against real code servers (and the absence of one).

test_deploy.py covers the whole story (a run whose code server is killed ends FAILED); here
each answer of the check is pinned down on its own: no server, a server that does not know the
run, a run no server launched, and the config in deploy/dagster.yaml.
"""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.launcher import RunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import ConfigurableClassData

from housing_assets.instance.run_launcher import CodeServerRunLauncher
from housing_assets.processes import free_port, stop_group, wait_for

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
TINY_DEFINITIONS = """\
import dagster as dg

@dg.op
def noop():
    return 1

@dg.job
def tiny():
    noop()

defs = dg.Definitions(jobs=[tiny])
"""


def run_on(port: int, run_id: str = "0b5e4d6c-0000-4000-8000-000000000001") -> dg.DagsterRun:
    tag = json.dumps({"host": "127.0.0.1", "port": port})
    return dg.DagsterRun(job_name="housing_pipeline", run_id=run_id, tags={GRPC_INFO_TAG: tag})


def launcher(**config) -> CodeServerRunLauncher:
    return CodeServerRunLauncher(health_check_retry_seconds=0.1, **config)


def test_deploy_config_builds_the_launcher():
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]
    built = ConfigurableClassData(
        config["module"], config["class"], yaml.safe_dump(config["config"])
    ).rehydrate(as_type=RunLauncher)
    assert isinstance(built, CodeServerRunLauncher)
    assert built.supports_check_run_worker_health
    assert (built.health_check_timeout_seconds, built.health_check_attempts) == (10, 3)


def test_a_silent_code_server_fails_the_run_with_its_address():
    port = free_port()  # nothing listens there
    result = launcher(health_check_attempts=2).check_run_worker_health(run_on(port))
    assert result.status == WorkerStatus.FAILED
    assert result.msg.startswith(f"The code server at 127.0.0.1:{port} that ran this run does not")
    assert "2 tries" in result.msg and "UNAVAILABLE" in result.msg


def test_a_run_no_code_server_launched_is_left_alone():
    result = launcher().check_run_worker_health(dg.DagsterRun(job_name="housing_pipeline"))
    assert result.status == WorkerStatus.RUNNING
    assert "max_runtime_seconds" in result.msg


@pytest.fixture(scope="module")
def tiny_code_server(tmp_path_factory):
    """A real `dagster api grpc` serving a one-op job; it runs nothing."""
    directory = tmp_path_factory.mktemp("tiny-code-server")
    (directory / "tiny_defs.py").write_text(TINY_DEFINITIONS)
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "api", "grpc", "-f", "tiny_defs.py",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        client = CodeServerRunLauncher().code_server_client({"host": "127.0.0.1", "port": port})

        def answers() -> bool:
            assert server.poll() is None, "the code server exited"
            try:
                return client.ping("up")["echo"] == "up"
            except DagsterUserCodeUnreachableError:
                return False

        wait_for(answers, 120, "the code server", interval=0.5)
        yield port
    finally:
        stop_group(server)


def test_a_code_server_that_does_not_run_the_run_fails_it(tiny_code_server):
    # E.g. the server was restarted: it answers, but the run's process went with the old one.
    result = launcher().check_run_worker_health(run_on(tiny_code_server))
    assert result.status == WorkerStatus.FAILED
    assert result.msg.startswith(
        f"The code server at 127.0.0.1:{tiny_code_server} is not running this run"
    )
