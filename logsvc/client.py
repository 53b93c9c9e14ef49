"""The `url` target: the deployed Function URLs (or `logsvc serve`), over HTTP with httpx.

One `httpx.Client` per command (keep-alive, timeouts, HTTP/1.1). With `auth="iam"` every
request is SigV4-signed for service `lambda`, the query string sent exactly as signed.
Transient failures (connection errors, timeouts, 429 and 5xx) are retried with exponential
backoff and jitter, honouring `Retry-After`; what still fails raises `StoreUnavailable`, which
`send` answers by spooling and `tail` by backing off.
"""

from __future__ import annotations

import random
import sys
import time
from urllib.parse import quote, urlencode, urlsplit

# httpx imports its own command line, and with it rich and click, whenever they are installed
# (+45 ms a run). We never use it: a None entry makes that import fail, as httpx allows for.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402

from logsvc import __version__
from logsvc.entry import batches, serialise
from logsvc.errors import InvalidInputError, StoreError, UsageError
from logsvc.retry import REMOTE, RetryPolicy
from logsvc.store import BadCursor, ConflictError, Page, PutResult, Query, StoreUnavailable

# Not 500: the service answers 500 only when it is misconfigured (table missing, access denied,
# shard counts disagreeing), which retrying and spooling cannot mend; a Lambda crash is a 502.
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
MAX_CURSOR_CHARS = 16384  # the read handler accepts no longer cursor, and URLs stay far below limits
MAX_REGEX_SCAN = 10_000  # entries one `recent --regex` call scans here before saying where to go on


class FunctionUrlStore:
    """The store interface over the ingest and read Function URLs."""

    def __init__(self, ingest_url: str | None, read_url: str | None, *, auth: str = "none",
                 region: str | None = None, aws_profile: str | None = None, timeout: float | None = None,
                 attempts: int | None = None, backoff: float = 0.25, max_backoff: float = 8.0,
                 sleep=time.sleep, policy: RetryPolicy = REMOTE) -> None:
        """`policy` bounds the retries (attempts and total time) and the timeouts, as for DynamoDB;
        `timeout` and `attempts` override it."""
        self.ingest_url = ingest_url
        self.read_url = read_url
        self.auth = auth
        self.attempts = attempts if attempts is not None else policy.attempts
        self.retry_seconds = policy.seconds
        timeout = timeout if timeout is not None else policy.read_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._region = region
        self._aws_profile = aws_profile
        self._credentials = None
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, policy.connect_timeout)),
            headers={"user-agent": f"logsvc/{__version__}"},
            follow_redirects=False,
        )

    # Insight: the read URL's `mode=stats` and `mode=export` (`logsvc.client_insight`).

    def count_by_bucket(self, query, edges):
        from logsvc.client_insight import count_by_bucket

        return count_by_bucket(self, query, edges)

    def page_after(self, query, after):
        from logsvc.client_insight import page_after

        return page_after(self, query, after)

    def close(self) -> None:
        self._client.close()

    # -- the store interface -----------------------------------------------------------------

    def put(self, entries: list[dict]) -> PutResult:
        """POST entries as JSON arrays the service takes (`entry.batches`); retried requests are
        idempotent (client ids)."""
        url = self._need(self.ingest_url, "ingest_url")
        result = PutResult()
        encoded = ((entry, serialise(entry).encode("utf-8")) for entry in entries)
        start = 0
        for pairs in batches(encoded, lambda pair: len(pair[1])):
            batch = [entry for entry, _ in pairs]
            body = b"[" + b",".join(data for _, data in pairs) + b"]"
            try:
                response = self._request("POST", url, body=body)
            except StoreUnavailable as exc:
                exc.stored = result.stored + exc.stored
                exc.pending = [entry["id"] for entry in entries[start:]]
                raise
            start += len(batch)
            answer = _json(response)
            replayed = set(answer.get("replayed") or [])
            result.replayed.extend(entry["id"] for entry in batch if entry["id"] in replayed)
            result.stored.extend(entry["id"] for entry in batch if entry["id"] not in replayed)
        return result

    def recent(self, query: Query) -> Page:
        answer = _json(self._request("GET", self._read_url(query)))
        if query.regex is None:
            # A page the service stopped early (scan budget, 6 MB response) says where to go on.
            truncated = bool(answer.get("truncated")) and isinstance(answer.get("before"), str)
            logs = answer.get("logs", [])
            resume = answer["before"] if truncated else None
            if resume is None and query.limit > 1000 and len(logs) >= 1000:
                # The read URL answers 1000 entries at most: more may be below the last one, and
                # `reading` asks on from there as far as the limit needs, like a truncated page.
                from logsvc.store import position

                resume = position(logs[-1])
            return Page(logs, answer.get("cursor", ""), truncated=resume is not None,
                        scanned=_scanned(answer), resume=resume)
        matches, scanned, resume = self._regex_matches(query, answer)
        return Page(matches, answer.get("cursor", ""), truncated=resume is not None, scanned=scanned, resume=resume)

    def follow(self, cursor: str, query: Query) -> Page:
        if len(cursor) > MAX_CURSOR_CHARS:  # httpx would fail on the URL with an unexpected InvalidURL
            raise BadCursor(f"the cursor is longer than {MAX_CURSOR_CHARS} characters, too long to send")
        try:
            answer = _json(self._request("GET", self._read_url(query, cursor=cursor)))
        except InvalidInputError as exc:
            if "cursor" not in exc.message:
                raise
            raise BadCursor(f"the service refused the cursor ({exc.message})") from None
        logs = answer.get("logs", [])
        if query.regex is not None:
            logs = [entry for entry in logs if query.regex.search(entry.get("message", ""))]
        # `truncated`: the service's read stopped at its budget below what has arrived; ask on.
        return Page(logs, answer.get("cursor", cursor), truncated=answer.get("truncated") is True,
                    scanned=_scanned(answer))

    def _regex_matches(self, query: Query, answer: dict) -> tuple[list[dict], int, str | None]:
        """The newest `limit` entries matching the regex, which the service cannot apply: (matches,
        entries scanned, where to continue or None).

        Reads pages of up to 1000 backwards in time, each continuing below the last (``before``:
        the service's, when it stopped a page early, else the last entry's position), until
        enough match, the entries run out, or `MAX_REGEX_SCAN` entries were scanned: then the
        position to continue from goes back like a service's truncated page (`reading`).
        """
        from logsvc.store import position

        matches: list[dict] = []
        scanned = 0
        while True:
            logs = answer.get("logs", [])
            examined = _scanned(answer)
            scanned += examined if examined is not None else len(logs)
            matches.extend(entry for entry in logs if query.regex.search(entry.get("message", "")))
            before = answer.get("before") if answer.get("truncated") else None
            if before is None and len(logs) >= 1000:
                before = position(logs[-1])
            if len(matches) >= query.limit or not isinstance(before, str):
                return matches[: query.limit], scanned, None
            if scanned >= MAX_REGEX_SCAN:
                return matches, scanned, before
            older = Query(limit=1000, min_severity=query.min_severity, since=query.since, until=query.until,
                          grep=query.grep, before=before)
            answer = _json(self._request("GET", self._read_url(older)))

    # -- HTTP --------------------------------------------------------------------------------

    def _read_url(self, query: Query, cursor: str | None = None) -> str:
        params: list[tuple[str, str]] = []
        # A regex is applied here, not by the service: ask for full pages and filter them.
        params.append(("limit", str(1000 if query.regex is not None else min(query.limit, 1000))))
        if query.min_severity:
            params.append(("severity", query.min_severity))
        if query.since:
            params.append(("since", query.since))
        if query.until:
            params.append(("until", query.until))
        if query.grep:
            params.append(("grep", query.grep))
        if query.before and cursor is None:
            params.append(("before", query.before))
        if cursor is not None:
            params.append(("cursor", cursor))
        base = self._need(self.read_url, "read_url")
        # Encode once, RFC 3986 style, and send exactly this string: it is what gets signed.
        return f"{base}?{urlencode(params, quote_via=quote, safe='')}"

    def _request(self, method: str, url: str, body: bytes | None = None) -> httpx.Response:
        delay = self.backoff
        problem, hint = "", None
        deadline = time.monotonic() + self.retry_seconds
        tries = 0
        for attempt in range(self.attempts):
            tries, hint = attempt + 1, None
            headers = {"content-type": "application/json"} if body is not None else {}
            if self.auth == "iam":
                headers = self._sign(method, url, headers, body)
            try:
                response = self._client.request(method, url, content=body, headers=headers)
            except httpx.TimeoutException:
                problem, wait = f"{_host(url)} did not answer in time", None
            except httpx.TransportError as exc:
                _raise_if_unknown_host(url, exc)
                problem, wait = _transport_problem(url, exc), None
                hint = _transport_hint(problem)
            else:
                if response.status_code not in TRANSIENT_STATUS:
                    return _raise_for_status(response)
                problem = f"{_host(url)} answered {response.status_code}"
                wait = _retry_after(response)
            if attempt + 1 < self.attempts:
                # Full jitter: many clients retrying at once spread out instead of stampeding.
                pause = wait if wait is not None else random.uniform(0, delay)
                if time.monotonic() + pause > deadline:
                    break  # the policy's time is spent: no try starts after it
                self._sleep(pause)
                delay = min(self.max_backoff, delay * 2)
        raise StoreUnavailable(f"{problem} (after {tries} attempt{'s' if tries != 1 else ''})", hint=hint)

    def _sign(self, method: str, url: str, headers: dict, body: bytes | None) -> dict:
        from logsvc.sigv4 import sign_request

        if self._credentials is None:
            self._credentials, self._region = _aws_credentials(self._aws_profile, self._region, url)
        return sign_request(method, url, headers, body, self._credentials, self._region)

    @staticmethod
    def _need(url: str | None, name: str) -> str:
        if not url:
            raise UsageError(f"{name} is not set", hint=f"set LOGSVC_{name.upper()} or `logsvc config set {name} URL`")
        return url


def _aws_credentials(profile: str | None, region: str | None, url: str):
    """Credentials and region from the standard AWS chain; the region may come from the URL."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
        region = region or session.get_config_variable("region")
    except BotoCoreError as exc:
        raise StoreError(f"cannot load AWS credentials: {exc}", hint="check AWS_PROFILE and ~/.aws/config") from exc
    if credentials is None:
        raise StoreError("no AWS credentials found for auth = iam",
                         hint="run `aws configure` or `aws sso login`, or set AWS_PROFILE")
    # https://<id>.lambda-url.<region>.on.aws/
    host_parts = (urlsplit(url).hostname or "").split(".")
    if not region and len(host_parts) > 3 and host_parts[1] == "lambda-url":
        region = host_parts[2]
    if not region:
        raise UsageError("no AWS region for signing", hint="set AWS_REGION or `logsvc config set region REGION`")
    return credentials.get_frozen_credentials(), region


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _raise_if_unknown_host(url: str, exc: httpx.TransportError) -> None:
    """A host name that does not exist is a mistake in the configuration, not an outage.

    Raises UsageError (not retried, nothing spooled) when DNS answers that the name is unknown.
    A temporary resolver failure (EAI_AGAIN: no network, resolver down) stays an outage.
    """
    import socket

    permanent = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror) and cause.errno in permanent:
            host = urlsplit(url).hostname
            raise UsageError(f"the host {host} in {url} does not exist (DNS: {cause.strerror})",
                             hint="check ingest_url and read_url: `logsvc config show` says where each came from") from None
        cause = cause.__cause__ or cause.__context__
    return None


def _transport_problem(url: str, exc: httpx.TransportError) -> str:
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"cannot resolve {urlsplit(url).hostname} (DNS): check the URL"
    if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return f"TLS error talking to {_host(url)}: {text}"
    return f"cannot reach {_host(url)}: {text or type(exc).__name__}"


def _transport_hint(problem: str) -> str | None:
    """The hint for a transport failure, naming its cause."""
    if "(DNS)" in problem:
        return "the host name could not be resolved: check the URL, and this machine's network and DNS"
    if problem.startswith("TLS error"):
        return "check the URL's scheme and host, and the certificates (SSL_CERT_FILE)"
    if "refused" in problem.lower():
        return "nothing answers there: check the URL, and that the service is running"
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        return None


def _scanned(answer: dict) -> int | None:
    """The items the service says its read examined, or None when it does not say (or says nonsense:
    a number is summed and printed, so another service's text must not reach that far)."""
    value = answer.get("scanned")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _json(response: httpx.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        raise StoreError(f"{_host(str(response.url))} answered with something that is not JSON",
                         hint="check that the URL is a logsvc Function URL") from None
    if not isinstance(answer, dict):
        raise StoreError(f"{_host(str(response.url))} answered with unexpected JSON")
    if "logs" in answer and not (isinstance(answer["logs"], list) and all(map(_is_entry, answer["logs"]))):
        # A proxy's or another service's JSON must not reach the output, nor crash its rendering.
        raise StoreError(f"{_host(str(response.url))} answered with entries that are not logsvc entries",
                         hint="check that the URL is a logsvc Function URL")
    return answer


def _is_entry(entry) -> bool:
    """Whether a read answer's entry has the fields and types every output relies on."""
    from datetime import datetime

    from logsvc.entry import SEVERITIES

    if not isinstance(entry, dict) or not isinstance(entry.get("dateTime"), str):
        return False
    try:
        aware = datetime.fromisoformat(entry["dateTime"]).tzinfo is not None
    except ValueError:
        return False
    return (aware and isinstance(entry.get("id"), str) and entry.get("severity") in SEVERITIES
            and isinstance(entry.get("message"), str) and isinstance(entry.get("source", ""), str))


def _raise_for_status(response: httpx.Response) -> httpx.Response:
    status = response.status_code
    if status < 300:
        return response
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    errors = answer.get("errors") if isinstance(answer, dict) else None
    detail = "; ".join(str(error) for error in errors[:5]) if isinstance(errors, list) else ""
    if status in (401, 403):
        if detail:  # our own server's refusal (a Host, an Origin, a signature): its reason is the news
            raise StoreError(f"{status} from {_host(str(response.url))}: {detail}",
                             hint="check auth and your AWS credentials, and that the URL names the server as it serves")
        raise StoreError(f"{status}: not authorised — check your AWS credentials",
                         hint="the URL uses IAM auth: set auth = iam, and AWS_PROFILE to an identity allowed to invoke it")
    if status == 409 and isinstance(answer, dict):
        raise ConflictError(list(answer.get("ids") or []))
    if status in (400, 413, 415):
        raise InvalidInputError(f"{status}: {detail or 'the service rejected the request'}")
    if status == 404:
        raise StoreError(f"404 from {_host(str(response.url))}: no such URL", hint="check ingest_url and read_url")
    raise StoreError(f"{status} from {_host(str(response.url))}: {detail or response.reason_phrase}")
