"""The programmatic layer: a client for the Dagster webserver's GraphQL API, and `housing-api`.

Dagster already serves the whole state of the project (assets, materialisations, checks, runs,
logs, schedules) at `/graphql`, so the project adds a thin typed client over it instead of a
server of its own: one fewer process to run, secure and keep in step with the UI.
"""

from housing_assets.api.client import (
    DEFAULT_URL,
    HousingApi,
    HousingApiError,
    LaunchRefusedError,
    RunTimeoutError,
    ServerUnreachableError,
    UnknownNameError,
    metadata_value,
)

__all__ = [
    "DEFAULT_URL",
    "HousingApi",
    "HousingApiError",
    "LaunchRefusedError",
    "RunTimeoutError",
    "ServerUnreachableError",
    "UnknownNameError",
    "metadata_value",
]
