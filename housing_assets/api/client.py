"""A typed client for the Dagster webserver's GraphQL API, returning plain JSON-ready data.

The API is Dagster's own `/graphql` endpoint (dagster-graphql), so the project runs no server of
its own. Launching runs and reading a run's status go through `DagsterGraphQLClient`, the
official client, which also resolves its documents against the server's schema. Everything
else is a GraphQL document from `housing_assets.api.queries`, sent over one `requests.Session`:
a kept-alive connection keeps a metrics query fast (README, API). Every method returns dicts,
lists, strings and numbers that `json.dumps` accepts as they are: metadata entries become
their values (numbers as numbers, NaN as None), times become ISO 8601 strings in UTC.

Failures raise `HousingApiError` with a message that names the cause (the URL of a server that
does not answer, the unknown asset or run id, a launch refused by a read-only server).
"""

import json
import math
import os
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from housing_assets.api import queries
from housing_assets.settings import JOB_NAME, LOCATION_NAME, REPOSITORY_NAME

DEFAULT_URL = "http://127.0.0.1:3000"

SCHEDULE_NAME = "housing_pipeline_schedule"
MODEL_GROUP = "ml_pipeline"
TOKEN_ENV = "HOUSING_API_TOKEN"
TOKEN_HEADER_ENV = "HOUSING_API_TOKEN_HEADER"
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
LOG_PAGE_SIZE = 1000


class HousingApiError(Exception):
    """A call to the API failed; the message says why, in terms a user can act on."""


class ServerUnreachableError(HousingApiError):
    """Nothing answers at the URL, or what answers is not a Dagster webserver."""


class UnknownNameError(HousingApiError):
    """An asset key, run id or schedule the server does not know."""


class LaunchRefusedError(HousingApiError):
    """The server refused to launch a run, e.g. because it was started with --read-only."""


class RunTimeoutError(HousingApiError):
    """A launched run did not end in time. It keeps running; `run_id` says which one."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def auth_headers() -> dict[str, str]:
    """Headers for a proxied server, from the environment only; empty when no token is set.

    `HOUSING_API_TOKEN` is sent as `Authorization: Bearer <token>`, or as the raw value of the
    header named by `HOUSING_API_TOKEN_HEADER` (e.g. `Dagster-Cloud-Api-Token`).
    """
    token = os.environ.get(TOKEN_ENV)
    if not token:
        return {}
    header = os.environ.get(TOKEN_HEADER_ENV)
    return {header: token} if header else {"Authorization": f"Bearer {token}"}


def asset_key_string(key: dict) -> str:
    return "/".join(key["path"])


def asset_key_input(name: str) -> dict:
    return {"path": name.split("/")}


def iso_time(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def _finite(value: Any) -> Any:
    """Replace NaN and infinities, which JSON cannot hold, by None (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def metadata_value(entry: dict) -> Any:
    """The plain value of one GraphQL metadata entry (see `queries.METADATA_FIELDS`)."""
    kind = entry["__typename"]
    if kind == "FloatMetadataEntry":
        return entry["floatValue"]  # the server already sends NaN and infinities as null
    if kind == "IntMetadataEntry":
        # intValue is null beyond 32 bits; intRepr always holds the whole number.
        return entry["intValue"] if entry["intValue"] is not None else int(entry["intRepr"])
    if kind == "JsonMetadataEntry":
        return _finite(json.loads(entry["jsonString"]))
    if kind == "TableSchemaMetadataEntry":
        return {
            "columns": [
                {"name": c["name"], "type": c["type"], "description": c["description"]}
                for c in entry["schema"]["columns"]
            ]
        }
    if kind == "TableMetadataEntry":
        return {
            "columns": [c["name"] for c in entry["table"]["schema"]["columns"]],
            "records": [_finite(json.loads(r)) for r in entry["table"]["records"]],
        }
    if kind == "AssetMetadataEntry":
        return asset_key_string(entry["assetKey"])
    if kind == "PythonArtifactMetadataEntry":
        return f"{entry['module']}.{entry['name']}"
    if kind == "NullMetadataEntry":
        return None
    simple = {
        "BoolMetadataEntry": "boolValue",
        "TextMetadataEntry": "text",
        "UrlMetadataEntry": "url",
        "PathMetadataEntry": "path",
        "NotebookMetadataEntry": "path",
        "MarkdownMetadataEntry": "mdStr",
        "TimestampMetadataEntry": "timestamp",
        "PipelineRunMetadataEntry": "runId",
        "JobMetadataEntry": "jobName",
        "PoolMetadataEntry": "pool",
    }
    if kind in simple:
        return entry[simple[kind]]
    # A member this client does not ask fields for (e.g. column lineage): say so, keep going.
    return {"unsupported_metadata_type": kind}


def metadata_dict(entries: list[dict]) -> dict[str, Any]:
    return {entry["label"]: metadata_value(entry) for entry in entries}


def materialization(event: dict) -> dict[str, Any]:
    return {
        "run_id": event["runId"],
        # MaterializationEvent.timestamp is epoch milliseconds, as a string.
        "timestamp": iso_time(int(event["timestamp"]) / 1000),
        "metadata": metadata_dict(event["metadataEntries"]),
    }


def run_summary(run: dict) -> dict[str, Any]:
    start, end = run["startTime"], run["endTime"]
    return {
        "run_id": run["runId"],
        "job": run["jobName"],
        "status": run["status"],
        "created": iso_time(run["creationTime"]),
        "start_time": iso_time(start),
        "end_time": iso_time(end),
        "duration_seconds": None if start is None or end is None else end - start,
        "assets": None
        if run["assetSelection"] is None
        else sorted(asset_key_string(k) for k in run["assetSelection"]),
        "tags": {tag["key"]: tag["value"] for tag in run["tags"]},
    }


def model_summary(event: dict) -> dict[str, Any]:
    """A model's latest materialisation reduced to its metrics and its MLflow pointers.

    Every float entry of a model materialisation is a metric (test_*, train_*, and cv_rmse
    after a tuning run); the row counts and the registered version are integers.
    """
    latest = materialization(event)
    metadata = latest["metadata"]
    return {
        "run_id": latest["run_id"],
        "timestamp": latest["timestamp"],
        "metrics": {
            entry["label"]: metadata[entry["label"]]
            for entry in event["metadataEntries"]
            if entry["__typename"] == "FloatMetadataEntry"
        },
        "mlflow_run_id": metadata.get("mlflow_run_id"),
        "mlflow_run_url": metadata.get("mlflow_run_url"),
        "model_uri": metadata.get("model_uri"),
        "registered_version": metadata.get("registered_version"),
        "promoted_to_champion": metadata.get("promoted_to_champion"),
    }


class HousingApi:
    """The client. One instance keeps one HTTP connection to one webserver.

    `url` is the webserver's base URL (the UI's address); the GraphQL endpoint is `<url>/graphql`.
    `location` and `repository` name the code location, as in workspace.yaml.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        location: str = LOCATION_NAME,
        repository: str = REPOSITORY_NAME,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.graphql_url = f"{self.url}/graphql"
        self.timeout = timeout
        self.location = location
        self.repository = repository
        self.headers = {**auth_headers(), **(headers or {})}
        self._session = requests.Session()
        self._session.headers.update(self.headers)
        self._dagster_client = None

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "HousingApi":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------

    def _unreachable(self, cause: Exception) -> ServerUnreachableError:
        return ServerUnreachableError(
            f"cannot reach the Dagster webserver at {self.url} ({type(cause).__name__}); "
            "is it running? Start it with `housing-dev` or `dagster-webserver`."
        )

    def execute(self, document: str, variables: dict | None = None) -> dict[str, Any]:
        """POST one GraphQL document; return its `data`, or raise on any transport/query error."""
        try:
            response = self._session.post(
                self.graphql_url,
                json={"query": document, "variables": variables or {}},
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise HousingApiError(
                f"{self.graphql_url} answered HTTP {response.status_code}: set {TOKEN_ENV} "
                f"(and optionally {TOKEN_HEADER_ENV}) for a server behind an authenticating proxy."
            )
        try:
            body = response.json()
        except ValueError:
            raise ServerUnreachableError(
                f"{self.graphql_url} answered HTTP {response.status_code} without JSON; "
                "is this the URL of a Dagster webserver?"
            ) from None
        if body.get("errors"):
            messages = "; ".join(error.get("message", str(error)) for error in body["errors"])
            raise HousingApiError(f"GraphQL error from {self.graphql_url}: {messages}")
        if response.status_code != 200 or "data" not in body:
            raise HousingApiError(f"{self.graphql_url} answered HTTP {response.status_code}")
        return body["data"]

    def _dagster(self):
        """dagster_graphql's official client, for launching runs and reading their status."""
        if self._dagster_client is None:
            from dagster_graphql import DagsterGraphQLClient  # imports dagster: only when needed

            parts = urlsplit(self.url)
            self._dagster_client = DagsterGraphQLClient(
                parts.hostname or "127.0.0.1",
                port_number=parts.port,
                use_https=parts.scheme == "https",
                timeout=int(math.ceil(self.timeout)),
                headers=self.headers or None,
                path_prefix=parts.path.rstrip("/"),
            )
        return self._dagster_client

    def _dagster_call(self, call, *args, **kwargs):
        from dagster_graphql import DagsterGraphQLClientError

        try:
            return call(*args, **kwargs)
        except DagsterGraphQLClientError as exc:
            causes = []
            cause = exc.__cause__
            while cause is not None and len(causes) < 10:
                causes.append(cause)
                cause = cause.__cause__ or cause.__context__
            for cause in causes:
                if isinstance(cause, (requests.ConnectionError, requests.Timeout)):
                    raise self._unreachable(cause) from None
            if len(exc.args) < 2 and causes:
                # A transport or query failure: its own message names the cause, not the query.
                raise HousingApiError(
                    f"GraphQL request to {self.graphql_url} failed: {causes[0]}"
                ) from None
            kind = exc.args[0] if exc.args else type(exc).__name__
            detail = exc.args[1] if len(exc.args) > 1 else (exc.body or "")
            if kind == "UnauthorizedError":
                raise LaunchRefusedError(
                    f"{self.url} refused to launch the run ({str(detail).rstrip('.')}): the "
                    "webserver is read-only (dagster-webserver --read-only), or the token lacks "
                    "launch permission; launch through a server started without --read-only."
                ) from None
            if kind == "RunNotFoundError":
                raise UnknownNameError(f"unknown run id: {detail}") from None
            if kind in ("PipelineNotFoundError", "JobNotFoundError"):
                raise UnknownNameError(f"unknown job: {detail}") from None
            raise HousingApiError(f"{kind}: {detail}") from None

    def _known_asset_keys(self, names: list[str]) -> list[dict]:
        known = {asset["key"] for asset in self.assets()}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise UnknownNameError(
                f"unknown asset(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return [asset_key_input(name) for name in names]

    # -- the functions ---------------------------------------------------------------------

    def assets(self) -> list[dict[str, Any]]:
        """Every asset with its group, kinds and lineage (upstream and downstream keys)."""
        nodes = self.execute(queries.ASSETS)["assetNodes"]
        return [
            {
                "key": asset_key_string(node["assetKey"]),
                "group": node["groupName"],
                "kinds": sorted(node["kinds"]),
                "description": node["description"],
                "jobs": sorted(node["jobNames"]),
                "has_checks": node["hasAssetChecks"],
                "upstream": sorted(asset_key_string(k) for k in node["dependencyKeys"]),
                "downstream": sorted(asset_key_string(k) for k in node["dependedByKeys"]),
            }
            for node in nodes
        ]

    def freshness(self) -> dict[str, Any]:
        """Asset key -> its freshness policy and state, for the assets that have a policy.

        The state is the freshness daemon's latest evaluation: HEALTHY, WARNING, DEGRADED (past
        the fail window), or UNKNOWN before its first evaluation."""
        nodes = self.execute(queries.FRESHNESS)["assetNodes"]
        return {
            asset_key_string(node["assetKey"]): {
                "status": (node["freshnessStatusInfo"] or {}).get("freshnessStatus", "UNKNOWN"),
                "last_materialized": iso_time(
                    ((node["freshnessStatusInfo"] or {}).get("freshnessStatusMetadata") or {}).get(
                        "lastMaterializedTimestamp"
                    )
                ),
                "warn_after_seconds": node["internalFreshnessPolicy"].get("warnWindowSeconds"),
                "fail_after_seconds": node["internalFreshnessPolicy"].get("failWindowSeconds"),
            }
            for node in nodes
            if node["internalFreshnessPolicy"] is not None
        }

    def latest_materializations(self, assets: list[str] | None = None) -> dict[str, Any]:
        """Asset key -> its latest materialisation (run id, time, metadata), or None if never.

        `assets` limits the answer to those keys; an unknown one raises UnknownNameError.
        """
        keys = [asset_key_input(name) for name in assets] if assets else None
        nodes = self.execute(queries.LATEST_MATERIALIZATIONS, {"assetKeys": keys})["assetNodes"]
        found = {asset_key_string(node["assetKey"]): node for node in nodes}
        unknown = [name for name in assets or [] if name not in found]
        if unknown:
            known = {asset["key"] for asset in self.assets()}
            raise UnknownNameError(
                f"unknown asset(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return {
            key: materialization(node["assetMaterializations"][0])
            if node["assetMaterializations"]
            else None
            for key, node in sorted(found.items())
        }

    def model_metrics(self) -> dict[str, Any]:
        """Model asset -> its latest metrics, MLflow run id and URL, and registered version."""
        group = {
            "groupName": MODEL_GROUP,
            "repositoryName": self.repository,
            "repositoryLocationName": self.location,
        }
        nodes = self.execute(queries.MODEL_METRICS, {"group": group})["assetNodes"]
        if not nodes:
            raise UnknownNameError(
                f"no assets in group {MODEL_GROUP!r} of code location {self.location!r} "
                f"(repository {self.repository!r}) at {self.url}"
            )
        return {
            asset_key_string(node["assetKey"]): model_summary(node["assetMaterializations"][0])
            if node["assetMaterializations"]
            else None
            for node in sorted(nodes, key=lambda n: n["assetKey"]["path"])
        }

    def check_results(self) -> list[dict[str, Any]]:
        """The latest result of every asset check (on its asset's latest materialisation)."""
        results = []
        for node in self.execute(queries.ASSET_CHECKS)["assetNodes"]:
            checks = node["assetChecksOrError"]
            asset = asset_key_string(node["assetKey"])
            if checks["__typename"] != "AssetChecks":
                raise HousingApiError(f"asset checks of {asset}: {checks.get('message')}")
            for check in checks["checks"]:
                execution = check["executionForLatestMaterialization"]
                evaluation = (execution or {}).get("evaluation")
                results.append(
                    {
                        "asset": asset,
                        "check": check["name"],
                        "blocking": check["blocking"],
                        "status": execution["status"] if execution else None,
                        "passed": evaluation["success"] if evaluation else None,
                        "severity": evaluation["severity"] if evaluation else None,
                        "run_id": execution["runId"] if execution else None,
                        # When the result was stored (the execution's own time is its start).
                        "timestamp": iso_time(evaluation["timestamp"]) if evaluation else None,
                        "metadata": metadata_dict(evaluation["metadataEntries"])
                        if evaluation
                        else {},
                    }
                )
        return sorted(results, key=lambda r: (r["asset"], r["check"]))

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent runs, newest first, with status, start/end times and duration."""
        answer = self.execute(queries.RUNS, {"limit": limit})["runsOrError"]
        if answer["__typename"] != "Runs":
            raise HousingApiError(f"runs: {answer.get('message')}")
        return [run_summary(run) for run in answer["results"]]

    def run(self, run_id: str) -> dict[str, Any]:
        """One run, as in `runs()`; UnknownNameError if the id is unknown."""
        answer = self.execute(queries.RUN, {"runId": run_id})["runOrError"]
        if answer["__typename"] == "RunNotFoundError":
            raise UnknownNameError(f"unknown run id: {run_id}")
        if answer["__typename"] != "Run":
            raise HousingApiError(f"run {run_id}: {answer.get('message')}")
        return run_summary(answer)

    def run_logs(self, run_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The last `limit` events of one run, oldest first."""
        events: deque = deque(maxlen=limit)
        cursor = None
        while True:
            answer = self.execute(
                queries.RUN_LOGS, {"runId": run_id, "afterCursor": cursor, "limit": LOG_PAGE_SIZE}
            )["logsForRun"]
            if answer["__typename"] == "RunNotFoundError":
                raise UnknownNameError(f"unknown run id: {run_id}")
            if answer["__typename"] != "EventConnection":
                raise HousingApiError(f"logs of run {run_id}: {answer.get('message')}")
            for event in answer["events"]:
                events.append(
                    {
                        "timestamp": iso_time(int(event["timestamp"]) / 1000),
                        "level": event["level"],
                        "event_type": event["eventType"],
                        "step_key": event["stepKey"],
                        "message": event["message"],
                    }
                )
            if not answer["hasMore"] or not answer["events"]:
                return list(events)
            cursor = answer["cursor"]

    def run_status(self, run_id: str) -> str:
        """The run's status name (QUEUED, STARTED, SUCCESS, FAILURE, ...), via DagsterGraphQLClient."""
        try:
            return self._dagster_call(self._dagster().get_run_status, run_id).value
        except UnknownNameError:
            raise UnknownNameError(f"unknown run id: {run_id}") from None

    def launch(
        self,
        assets: list[str] | None = None,
        *,
        job: str = JOB_NAME,
        wait: bool = True,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
    ) -> dict[str, Any]:
        """Launch the job, or only the given assets of it; by default wait until it ends.

        Returns the run (as in `runs()`). Raises RunTimeoutError if it does not end within
        `timeout` seconds (the run keeps going; the error holds its id).
        """
        selection = self._known_asset_keys(assets) if assets else None
        run_id = self._dagster_call(
            self._dagster().submit_job_execution,
            job,
            repository_location_name=self.location,
            repository_name=self.repository,
            asset_selection=[key["path"] for key in selection] if selection else None,
        )
        if not wait:
            return self.run(run_id)
        return self.wait_for_run(run_id, timeout=timeout, poll_interval=poll_interval)

    def wait_for_run(
        self, run_id: str, *, timeout: float = 600.0, poll_interval: float = 1.0
    ) -> dict[str, Any]:
        """Poll the run's status until it ends; return the run, or raise after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.run_status(run_id)
            if status in TERMINAL_STATUSES:
                return self.run(run_id)
            if time.monotonic() >= deadline:
                raise RunTimeoutError(
                    f"run {run_id} is still {status} after {timeout:g} s; it keeps running "
                    f"(follow it with `housing-api status {run_id}`)",
                    run_id,
                )
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    def schedule(self, name: str = SCHEDULE_NAME) -> dict[str, Any]:
        """The schedule's cron, state (RUNNING/STOPPED), next tick and last tick."""
        selector = {
            "repositoryLocationName": self.location,
            "repositoryName": self.repository,
            "scheduleName": name,
        }
        answer = self.execute(queries.SCHEDULE, {"selector": selector})["scheduleOrError"]
        if answer["__typename"] == "ScheduleNotFoundError":
            raise UnknownNameError(f"unknown schedule: {name} (location {self.location})")
        if answer["__typename"] != "Schedule":
            raise HousingApiError(f"schedule {name}: {answer.get('message')}")
        state = answer["scheduleState"]
        next_tick = state["nextTick"]
        last = state["ticks"][0] if state["ticks"] else None
        return {
            "name": answer["name"],
            "job": answer["pipelineName"],
            "cron": answer["cronSchedule"],
            "timezone": answer["executionTimezone"],
            "status": state["status"],
            # Dagster gives a next tick only while the schedule is RUNNING.
            "next_tick": iso_time(next_tick["timestamp"]) if next_tick else None,
            "last_tick": None
            if last is None
            else {
                "status": last["status"],
                "timestamp": iso_time(last["timestamp"]),
                "run_ids": last["runIds"],
                "skip_reason": last["skipReason"],
                "error": last["error"]["message"] if last["error"] else None,
            },
        }
