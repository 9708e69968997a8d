"""A run launcher whose runs the run monitor can check: the code server is asked about each run.

With Dagster's `DefaultRunLauncher` a run is a subprocess of the code server (`dagster api
grpc`) that launched it. If that server dies (its container stops, the host reboots, SIGKILL),
the run dies with it and nobody writes the run's end: it stays STARTED until the run monitor's
`max_runtime_seconds`, and the schedule's in-flight guard skips every tick until then. The
stock launcher cannot tell, because it does not implement the run monitor's health check.

`CodeServerRunLauncher` is the default launcher plus that check. The run is tagged with the
address of its code server at launch (the stock launcher already does this). The run monitor
(the daemon's `run_monitoring`) then asks that server, every `poll_interval_seconds`, whether
the run is still one of its executions:

- the server does not answer after `health_check_attempts` tries: the run is failed, with a
  message naming the server;
- the server answers but does not know the run (it was restarted, so its run processes went
  with the old one): the run is failed, with a message saying so;
- otherwise the run is healthy.

Runs that no code server launched (e.g. `dagster job execute` against the same instance) carry
no address and are left to `max_runtime_seconds`. It imports only dagster: the webserver and
the daemon load it from the instance's dagster.yaml.

Upstream gap (written against Dagster 1.13.27): `dg.DefaultRunLauncher` is public, but the
health-check result types (`CheckRunHealthResult`, `WorkerStatus`), the gRPC client that asks
a code server about a run (`DagsterGrpcClient.can_cancel_execution` and its request/result
types), the tag holding the server's address (`GRPC_INFO_TAG`), the unreachable-server error
and `ConfigurableClassData` are internal. `test_instance_plugins.py` fails if one of them moves.
"""

import json
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import ConfigurableClassData


class CodeServerRunLauncher(dg.DefaultRunLauncher):
    """`DefaultRunLauncher` that lets run monitoring fail runs whose code server died."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        health_check_timeout_seconds: int = 10,
        health_check_attempts: int = 3,
        health_check_retry_seconds: float = 2.0,
    ):
        super().__init__(inst_data=inst_data)
        self.health_check_timeout_seconds = health_check_timeout_seconds
        self.health_check_attempts = max(1, health_check_attempts)
        self.health_check_retry_seconds = health_check_retry_seconds

    @classmethod
    def config_type(cls):
        return {
            "health_check_timeout_seconds": dg.Field(
                dg.IntSource,
                is_required=False,
                default_value=10,
                description="How long one question to the code server may take.",
            ),
            "health_check_attempts": dg.Field(
                dg.IntSource,
                is_required=False,
                default_value=3,
                description="Tries (2 s apart) before a silent code server fails the run.",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def code_server_client(self, grpc_info: Mapping[str, Any]) -> DagsterGrpcClient:
        return DagsterGrpcClient(
            port=grpc_info.get("port"),
            socket=grpc_info.get("socket"),
            host=grpc_info.get("host", "localhost"),
            use_ssl=bool(grpc_info.get("use_ssl", False)),
        )

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        tag = run.tags.get(GRPC_INFO_TAG)
        if not tag:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "not launched by a code server: left to max_runtime_seconds"
            )
        grpc_info = json.loads(tag)
        address = (
            f"{grpc_info['host']}:{grpc_info['port']}"
            if grpc_info.get("port")
            else str(grpc_info.get("socket"))
        )
        client = self.code_server_client(grpc_info)
        request = CanCancelExecutionRequest(run_id=run.run_id)
        for attempt in range(self.health_check_attempts):
            try:
                answer = client.can_cancel_execution(
                    request, timeout=self.health_check_timeout_seconds
                )
                break
            except DagsterUserCodeUnreachableError as error:
                if attempt + 1 == self.health_check_attempts:
                    return CheckRunHealthResult(
                        WorkerStatus.FAILED,
                        f"The code server at {address} that ran this run does not answer "
                        f"({error}; {self.health_check_attempts} tries): the run's process "
                        "ended with it. Restart the code server, then launch the run again.",
                    )
                time.sleep(self.health_check_retry_seconds)
        if dg.deserialize_value(answer, CanCancelExecutionResult).can_cancel:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"The code server at {address} is not running this run: it was restarted (or the "
            "run's process died) before the run recorded its end. Launch the run again.",
        )
