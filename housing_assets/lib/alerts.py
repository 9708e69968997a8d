"""Failure alerts: one JSON line per failed run in a log file, and an optional webhook POST.

The log file is the alert channel that always works (and that tests can read); the webhook
is for a chat or paging tool, given by URL in an environment variable, never in the code.
"""

import json
import urllib.parse
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


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook (not http(s), no host), or None if it can."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as error:
        return f"it is not a valid URL ({error})"
    if parts.scheme not in ("http", "https"):
        return f"its scheme is {parts.scheme!r}, expected http or https"
    if not parts.hostname:
        return "it has no host"
    return None
