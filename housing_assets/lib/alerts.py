"""Failure alerts: one JSON line per failed run in a log file, and an optional webhook POST.

The log file is the alert channel that always works (and that tests can read); the webhook
is for a chat or paging tool, given by URL in an environment variable, never in the code.
"""

import json
import urllib.request
from pathlib import Path

WEBHOOK_TIMEOUT_SECONDS = 5


def append_alert(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, sort_keys=True) + "\n")


def post_webhook(url: str, record: dict) -> int:
    """POST the record as JSON; returns the HTTP status. Raises OSError when unreachable."""
    request = urllib.request.Request(
        url,
        data=json.dumps(record).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        return response.status
