"""Freshness: how old the valuations and the models may get before the UI says so.

The schedule runs the graph every 2 minutes, and a run ends within a tick. An asset last
materialised more than `WARN_AFTER` ago has missed at least two ticks (the schedule is stopped,
or runs fail or queue up): Dagster's freshness daemon marks it WARN, then FAIL after
`FAIL_AFTER`. The state is shown on each asset in the UI and
served over GraphQL (`housing-api freshness`).
"""

from datetime import timedelta

import dagster as dg

SCHEDULE_MINUTES = 2
WARN_AFTER = timedelta(minutes=3 * SCHEDULE_MINUTES)
FAIL_AFTER = timedelta(minutes=5 * SCHEDULE_MINUTES)

SCHEDULED_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=FAIL_AFTER, warn_window=WARN_AFTER)
