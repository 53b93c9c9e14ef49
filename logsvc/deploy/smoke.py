"""The smoke test after a deploy: a canary entry sent through the ingest URL and read back through the read URL."""

from __future__ import annotations

import time
import uuid


def smoke(settings, *, timeout: float = 30.0, sleep=time.sleep) -> dict:
    """Send a canary with the profile's url target and wait until a read returns it; the canary, or LogsvcError.

    The read side is an eventually consistent index, so the read is retried for `timeout` seconds.
    """
    from logsvc.entry import normalise
    from logsvc.errors import LogsvcError
    from logsvc.store import Query
    from logsvc.targets import open_store

    marker = f"logsvc deploy smoke test {uuid.uuid4()}"
    canary = normalise({"severity": "info", "message": marker, "source": "logsvc-deploy"}, lenient_severity=True)
    store = open_store(settings)
    try:
        store.put([canary])
        deadline = time.monotonic() + timeout
        delay = 0.25
        while True:
            page = store.recent(Query(limit=10, grep=marker))
            if any(entry["id"] == canary["id"] for entry in page.entries):
                return canary
            if time.monotonic() > deadline:
                raise LogsvcError(f"smoke test: the canary {canary['id']} was stored but not read back "
                                  f"within {timeout:.0f} s", hint="check the read function's logs in CloudWatch")
            sleep(delay)
            delay = min(delay * 2, 4.0)
    finally:
        store.close()
