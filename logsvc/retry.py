"""The one retry policy of the remote targets (url and dynamodb): how many tries, for how long.

A call that fails in a way a retry can fix (connection refused or reset, a timeout, 429/5xx,
throttling) is tried again with backoff and jitter, at most `attempts` times in all, and no new
try starts once `seconds` have passed since the first; each try gives up after `connect_timeout`
to connect and `read_timeout` for the answer. So a call ends within `seconds` plus one try's
timeouts, whichever target it goes to. The README states these numbers.

Stdlib only, and no work at import time.
"""

from typing import NamedTuple


class RetryPolicy(NamedTuple):
    """A NamedTuple rather than a dataclass: read-only all the same, and defined without the
    code generation a dataclass runs at import (half a millisecond of every remote command)."""

    attempts: int = 5
    seconds: float = 15.0
    connect_timeout: float = 3.0
    read_timeout: float = 10.0

    @property
    def longest(self) -> float:
        """The most a call can take: the retry window plus one last try's timeouts."""
        return self.seconds + self.connect_timeout + self.read_timeout


REMOTE = RetryPolicy()
