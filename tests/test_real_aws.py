"""Opt-in: the dynamodb target against a real AWS account. Skipped unless LOGSVC_TEST_AWS=1.

Uses the caller's AWS credentials and region (run outside the isolation fixture's reach by
passing them in LOGSVC_TEST_AWS_PROFILE / LOGSVC_TEST_AWS_REGION). Creates a table named
logsvc-test-<random>, sends, reads and tails, then deletes it.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from tests.conftest import run_logsvc

pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(os.environ.get("LOGSVC_TEST_AWS") != "1", reason="real AWS: set LOGSVC_TEST_AWS=1"),
]

# Read before the autouse fixture clears the AWS environment of each test.
PROFILE = os.environ.get("LOGSVC_TEST_AWS_PROFILE") or os.environ.get("AWS_PROFILE")
REGION = os.environ.get("LOGSVC_TEST_AWS_REGION") or os.environ.get("AWS_REGION")
REAL_HOME = os.path.expanduser("~")


def test_send_recent_and_tail_on_a_real_table():
    table = f"logsvc-test-{uuid.uuid4().hex[:8]}"
    env = {"AWS_CONFIG_FILE": f"{REAL_HOME}/.aws/config", "AWS_SHARED_CREDENTIALS_FILE": f"{REAL_HOME}/.aws/credentials",
           "LOGSVC_TABLE": table, "LOGSVC_TARGET": "dynamodb"}
    if PROFILE:
        env["AWS_PROFILE"] = PROFILE
    if REGION:
        env["AWS_REGION"] = REGION
    created = run_logsvc("table", "create", "--table", table, env=env, timeout=300)
    assert created.returncode == 0, created.stderr
    try:
        sent = run_logsvc("send", "-s", "error", "real aws", env=env)
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 15  # the time index is eventually consistent
        while True:
            shown = run_logsvc("recent", "-o", "jsonl", env=env)
            messages = [json.loads(line)["message"] for line in shown.stdout.splitlines()]
            if messages or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert messages == ["real aws"]
    finally:
        assert run_logsvc("table", "delete", "--table", table, "--yes", env=env, timeout=300).returncode == 0
