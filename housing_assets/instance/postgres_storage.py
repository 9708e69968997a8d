"""dagster-postgres' storage, with the webserver's pooled connections tested before each use.

`dagster-webserver` keeps one pooled connection per store (runs, event logs, schedules) and
does not test it before use. After PostgreSQL restarts (an upgrade, a failover, a container
restart) the first query on each store therefore fails with "server closed the connection
unexpectedly", and the UI and the GraphQL API answer errors until every pool has met one. The
daemon and the run workers are not affected: they open a connection per query.

`ReconnectingPostgresStorage` is `DagsterPostgresStorage` plus SQLAlchemy's pessimistic
disconnect handling (a `SELECT 1` when a connection is checked out of the webserver's pool; a
dead connection is replaced before the query runs). Configured exactly like `storage: postgres`,
under `storage: custom` in deploy/dagster.yaml. The cost is one round trip per checkout.

Upstream gap (written against Dagster 1.13.27 and dagster-postgres 0.29.27): the storage offers
no option for a pre-ping pool, and the pooled engine is created inside each store's
`optimize_for_webserver` and kept in the private `store._engine`; the three stores are the
private `_run_storage`, `_event_log_storage` and `_schedule_storage`, and `from_config_value`
takes the internal `ConfigurableClassData`. `test_instance_plugins.py` fails if one moves.
"""

from typing import Any

import sqlalchemy
import sqlalchemy.exc
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config


def ping_on_checkout(dbapi_connection, connection_record, connection_proxy) -> None:
    """SQLAlchemy's pool `checkout` hook: a connection that fails `SELECT 1` is replaced."""
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any failure here means this connection is unusable
        raise sqlalchemy.exc.DisconnectionError(str(error)) from error


def _ping_pooled_connections(store) -> None:
    """Wrap `store.optimize_for_webserver` (which swaps in a pooled engine) to add the ping."""
    optimize = store.optimize_for_webserver

    def optimize_and_ping(statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        optimize(statement_timeout, pool_recycle, max_overflow)
        sqlalchemy.event.listen(store._engine.pool, "checkout", ping_on_checkout)

    store.optimize_for_webserver = optimize_and_ping


class ReconnectingPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose pooled (webserver) connections survive a server restart."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for store in (self._run_storage, self._event_log_storage, self._schedule_storage):
            _ping_pooled_connections(store)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value):
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
