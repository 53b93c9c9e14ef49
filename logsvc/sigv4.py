"""AWS Signature Version 4 for Function URLs with ``AuthType: AWS_IAM``: verify and sign.

The local server (`logsvc.serve`, ``--auth iam``) checks requests the way a Function URL does:
it recomputes the signature of the request it received with botocore's own `SigV4Auth`
(service ``lambda``, the region named in the credential scope) and compares. Clients (the CLI,
the tests) sign with `sign_request`, which uses the same canonical forms, so what one signs the
other accepts.

botocore is imported only when signing or verifying, never by importing this module.

Canonical forms, as AWS uses them for every service except S3:
- path: the path exactly as sent, dot segments removed, then percent-encoded once more
  (botocore does this; `%20` in the path is signed as `%2520`);
- query: every ``key=value`` pair percent-decoded (``+`` is a space) and re-encoded with only
  ``A-Z a-z 0-9 - _ . ~`` left as they are, then sorted. The client may send any encoding with
  the same meaning.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from calendar import timegm
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

SERVICE = "lambda"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW_SECONDS = 300.0  # AWS rejects signatures dated more than 5 minutes off
DEFAULT_ACCOUNT_ID = "000000000000"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Characters a client may leave unescaped in a path; everything else we escape as HTTP clients do.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class Credentials(NamedTuple):
    """An access key pair and, for temporary credentials, the session token."""

    access_key: str
    secret_key: str
    token: str | None = None


class SignatureError(Exception):
    """The request is not signed by a known key, or not validly: a 403. `str()` says why."""


@dataclass(frozen=True)
class Caller:
    """Who signed a request: what a Function URL puts in ``requestContext.authorizer.iam``."""

    access_key: str
    account_id: str
    user_arn: str
    user_id: str

    def authorizer(self) -> dict:
        """The ``authorizer`` block of a payload-2.0 event for this caller."""
        return {
            "iam": {
                "accessKey": self.access_key,
                "accountId": self.account_id,
                "callerId": self.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": self.user_arn,
                "userId": self.user_id,
            }
        }


def canonical_query(raw_query: str) -> str:
    """The SigV4 canonical form of a query string, whatever encoding the client chose.

    Each pair is decoded (``+`` as a space, as AWS does) and re-encoded RFC 3986 style, then
    pairs are sorted by key and value. Empty ``&&`` segments carry nothing and are dropped.
    """
    pairs = []
    for pair in raw_query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        pairs.append((_canonical_component(key), _canonical_component(value)))
    pairs.sort()
    return "&".join(f"{key}={value}" for key, value in pairs)


def _canonical_component(text: str) -> str:
    # Work on bytes so percent-escapes that are not UTF-8 survive unchanged.
    # (Letters are never escaped: a mutant adding any to `safe` is equivalent.)
    return quote(unquote_to_bytes(text.replace("+", " ")), safe="-_.~")


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | str | None,
    credentials: Any,
    region: str,
    *,
    now: float | None = None,
) -> dict[str, str]:
    """Sign a request to a Function URL (or the local server) and return the headers to send.

    `credentials` is anything with ``access_key``, ``secret_key`` and ``token`` (a
    `Credentials`, or botocore's). Every header in `headers` is signed (except those botocore
    never signs, such as User-Agent), plus ``host``; the result holds them all plus
    ``x-amz-date``, ``authorization`` and, for temporary credentials, ``x-amz-security-token``.
    Send exactly `url` and `body` with the returned headers. `now` (epoch seconds) is for tests.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    # (botocore encodes a str body as UTF-8 itself: mutants of this encode are equivalent.)
    data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    parts = urlsplit(url)
    # Sign the forms the server will rebuild: the path as an HTTP client sends it, the query canonical.
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    signed_url = urlunsplit((parts.scheme, parts.netloc, path, canonical_query(parts.query), ""))
    # A Date header would make botocore sign it instead of x-amz-date, which Function URLs require.
    to_sign = {name: value for name, value in (headers or {}).items() if name.lower() != "date"}
    # (botocore upper-cases the method, ignores the fragment and compares header names without
    # case: mutants of those are equivalent.)
    request = AWSRequest(method=method.upper(), url=signed_url, headers=to_sign, data=data)
    if "host" not in request.headers:
        request.headers["host"] = _host_header(parts)
    auth = SigV4Auth(credentials, SERVICE, region)
    # (gmtime(None) is now too: dropping the `now is None` test is an equivalent mutant.)
    timestamp = time.strftime(_AMZ_DATE_FORMAT, time.gmtime(time.time() if now is None else now))
    request.context["timestamp"] = timestamp
    # The steps of SigV4Auth.add_auth, with our timestamp instead of the clock's.
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    result = {name.lower(): value for name, value in request.headers.items()}
    result["authorization"] = (
        f"{ALGORITHM} Credential={auth.scope(request)}, SignedHeaders={signed}, Signature={signature}"
    )
    return result


def _host_header(parts) -> str:
    host = parts.hostname or ""  # (a URL without a host cannot be sent: any fallback is equivalent)
    if ":" in host:
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return host


def default_credentials() -> Credentials:
    """The credentials botocore finds (environment, profile, SSO, ...), or SignatureError."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise SignatureError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    frozen = found.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


class SigV4Verifier:
    """Checks that requests are SigV4-signed by one of the given credentials.

    What passes and fails follows a Function URL with ``AuthType: AWS_IAM``: the signature must
    match the request as received (method, path, query, signed headers, body), ``host`` and
    ``x-amz-date`` must be signed, the date must be within 5 minutes of now, the service
    ``lambda``, and the session token must be the credentials' own. Any region is accepted.
    """

    def __init__(
        self,
        credentials: Credentials | Iterable[Credentials],
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        max_clock_skew: float = MAX_CLOCK_SKEW_SECONDS,
    ) -> None:
        if isinstance(credentials, Credentials):
            credentials = [credentials]
        self._by_key = {cred.access_key: cred for cred in credentials}
        if not self._by_key:
            raise ValueError("SigV4Verifier needs at least one set of credentials")
        self.account_id = account_id
        self.max_clock_skew = max_clock_skew

    def verify(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        now: float | None = None,
        host_ok: Callable[[str], bool] | None = None,
    ) -> Caller:
        """Return who signed the request, or raise SignatureError saying why it is refused.

        `headers` are (lower-case name, value) pairs as received, repeats included. `host_ok`
        says whether a signed ``host`` names this server: a request signed for another one (the
        deployed Function URL, say) must not be replayable here with the same credentials.
        """
        received: dict[str, list[str]] = {}
        for name, value in headers:
            received.setdefault(name.lower(), []).append(value)

        authorization = received.get("authorization")
        if not authorization:
            raise SignatureError("missing Authorization header (sign the request with SigV4)")
        key_id, date, region, signed_names, signature = _parse_authorization(authorization[-1])
        credentials = self._by_key.get(key_id)
        if credentials is None:
            raise SignatureError(f"unknown access key {key_id[:32]!r}")

        missing = [name for name in signed_names if name not in received]
        if missing:
            raise SignatureError(f"signed header {missing[0]!r} is not in the request")
        if "host" not in signed_names:
            raise SignatureError("the host header must be signed")
        if host_ok is not None and not all(host_ok(host) for host in received["host"]):
            raise SignatureError(f"the request is signed for host {received['host'][-1][:100]!r}, not for this server")
        if "x-amz-date" not in signed_names:
            raise SignatureError("the x-amz-date header must be signed")
        amz_date = received["x-amz-date"][-1]
        signed_at = _parse_amz_date(amz_date)
        if amz_date[:8] != date:
            raise SignatureError("the credential scope date does not match x-amz-date")
        current = time.time() if now is None else now
        if abs(current - signed_at) > self.max_clock_skew:
            raise SignatureError(f"the signature date {amz_date} is more than 5 minutes from the server's clock")

        token = received.get("x-amz-security-token", [None])[-1]
        if (token is None) != (credentials.token is None) or (
            token is not None and not hmac.compare_digest(token.encode(), credentials.token.encode())
        ):
            raise SignatureError("the session token does not match the access key")

        if "x-amz-content-sha256" in signed_names:
            claimed = received["x-amz-content-sha256"][-1]
            if not _SHA256_HEX.match(claimed) or not hmac.compare_digest(
                claimed, hashlib.sha256(body).hexdigest()
            ):
                raise SignatureError("x-amz-content-sha256 does not match the body")

        expected = _expected_signature(
            credentials, region, method, raw_path, raw_query, signed_names, received, body, amz_date
        )
        if not hmac.compare_digest(expected, signature):
            raise SignatureError("the signature does not match the request")
        return Caller(
            access_key=key_id,
            account_id=self.account_id,
            user_arn=f"arn:aws:iam::{self.account_id}:user/logsvc-local",
            user_id=principal_id(key_id),
        )


def principal_id(access_key: str) -> str:
    """A stable IAM-style unique id (``AIDA`` and 17 characters) derived from an access key.

    A Function URL puts the caller's unique principal id in ``userId``/``callerId``, never the
    access key; the local server has no IAM to ask, so it derives one that does not reveal the key.
    """
    import base64

    # (Codec names ignore case: "UTF-8" / "ASCII" mutants here are equivalent.)
    digest = hashlib.sha256(b"logsvc-principal:" + access_key.encode("utf-8")).digest()
    return "AIDA" + base64.b32encode(digest).decode("ascii")[:17]


def _parse_authorization(value: str) -> tuple[str, str, str, list[str], str]:
    """(access key, scope date, region, signed header names, signature) from an Authorization header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"unsupported authorization scheme {algorithm[:32]!r} (expected {ALGORITHM})")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed Authorization header")
        fields[name] = field
    try:
        credential, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as exc:
        raise SignatureError(f"the Authorization header has no {exc.args[0]}") from None
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise SignatureError("malformed credential scope (expected KEY/DATE/REGION/lambda/aws4_request)")
    key_id, date, region, service, _ = scope
    if service != SERVICE:
        raise SignatureError(f"the credential scope names service {service[:32]!r}, not {SERVICE!r}")
    if not _SIGNATURE.match(signature):
        raise SignatureError("malformed signature")
    names = signed.split(";")
    if not all(names) or names != sorted(set(names)) or any(name != name.lower() for name in names):
        raise SignatureError("SignedHeaders must be lower-case, sorted and unique")
    return key_id, date, region, names, signature


def _parse_amz_date(value: str) -> float:
    if not _AMZ_DATE.match(value):
        raise SignatureError(f"x-amz-date {value[:32]!r} is not of the form YYYYMMDDTHHMMSSZ")
    try:
        return float(timegm(time.strptime(value, _AMZ_DATE_FORMAT)))
    except ValueError:
        # (The value matched the 16-character pattern: any cut of 16 or more is equivalent.)
        raise SignatureError(f"x-amz-date {value[:32]!r} is not a valid time") from None


def _expected_signature(
    credentials: Credentials,
    region: str,
    method: str,
    raw_path: str,
    raw_query: str,
    signed_names: list[str],
    received: dict[str, list[str]],
    body: bytes,
    amz_date: str,
) -> str:
    """Recompute the signature with botocore over exactly the signed headers."""
    from botocore.awsrequest import AWSRequest, HTTPHeaders

    headers = HTTPHeaders()
    for name in signed_names:
        for value in received[name]:
            headers[name] = value  # HTTPHeaders appends: repeated headers stay separate values
    query = canonical_query(raw_query)
    # (Only the path and query of this URL are signed: mutants of the rest are equivalent.)
    url = "http://localhost" + raw_path + ("?" + query if query else "")
    request = AWSRequest(method=method, url=url, data=body)
    request.headers = headers
    request.context["timestamp"] = amz_date
    auth = _received_request_signer()(credentials, region, signed_names)
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


@functools.cache
def _received_request_signer() -> type:
    """botocore's SigV4Auth, signing exactly the headers the client said it signed.

    botocore's own choice of headers (everything but a deny-list such as user-agent) is right for
    a client but not for a server: the client decides, and says so in SignedHeaders.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import HTTPHeaders

    class ReceivedRequestSigV4(SigV4Auth):
        def __init__(self, credentials: Credentials, region: str, signed_names: list[str]) -> None:
            super().__init__(credentials, SERVICE, region)
            self._signed_names = signed_names

        def headers_to_sign(self, request: Any) -> Any:
            selected = HTTPHeaders()
            for name in self._signed_names:
                for value in request.headers.get_all(name) or []:
                    selected[name] = value
            return selected

    return ReceivedRequestSigV4
