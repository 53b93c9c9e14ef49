"""Test isolation: every test runs with its own home, config, data folder and an empty AWS setup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the user's home, logsvc config, ~/.aws or AWS environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LOGSVC_HOME", str(tmp_path / "logsvc"))
    for name in list(os.environ):
        if name.startswith(("AWS_", "LOGSVC_")) and name != "LOGSVC_HOME":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("COLUMNS", "120")
    return tmp_path


def run_logsvc(*args: str, input: bytes | None = None, env: dict | None = None, timeout: float = 60,
               check: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m logsvc` as a real subprocess with the test's environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "logsvc", *args], input=input, capture_output=True,
                          env=full_env, timeout=timeout, cwd=ROOT, check=check)
