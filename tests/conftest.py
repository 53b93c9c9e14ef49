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


def on_a_terminal(*args: str, env: dict) -> bytes:
    """The command's output on a 120-column pseudo-terminal, as an operator's shell runs it
    (COLUMNS and NO_COLOR of the test's own environment left out: `env` sets what a test wants)."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environment = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "NO_COLOR")}
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", *args], stdout=secondary, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**environment, "TERM": "xterm-256color", **env})
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    os.close(primary)
    return b"".join(chunks)
