"""`SigV4Verifier.verify` on its own: one valid request, and a table of tampered ones.

Requests are signed here with a small SigV4 signer written from the AWS specification
(hashlib + hmac), not with `logsvc.sigv4` or botocore, so the signer under test is not its own
oracle. The signer can produce what no honest client would (a scope date other than the
x-amz-date day, a request that leaves host unsigned, ...) with a *valid* signature over what
was sent: each tampered request is refused by exactly the check written for it, and would be
accepted if that check were missing or weakened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from calendar import timegm
from dataclasses import dataclass, field, replace

import pytest

from logsvc.sigv4 import (
    Credentials,
    SignatureError,
    SigV4Verifier,
    canonical_query,
    default_credentials,
    principal_id,
    sign_request,
)

KEY = Credentials("AKIDVERIFYTEST", "verify-test-secret")
TEMPORARY_KEY = Credentials("ASIAVERIFYTEST", "temporary-verify-secret", "the-session-token")
ACCOUNT = "123456789012"
AMZ_DATE = "20260314T101112Z"
NOW = float(timegm((2026, 3, 14, 10, 11, 12, 0, 0, 0)))  # the moment AMZ_DATE names
BODY = b'{"severity": "info", "message": "signed"}'


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Request:
    """A request as the server receives it, and how it was signed.

    `headers` are sent as listed (repeats included); `signed` names the headers that go into
    the signature and SignedHeaders. The signature's scope is `signing_date` (default: the day of
    x-amz-date), `region` and `service`; the Authorization header claims `scope_date`,
    `scope_region` and `scope_service`, which default to the same.
    """

    method: str = "POST"
    path: str = "/ingest"
    query: str = "x=1"
    headers: tuple[tuple[str, str], ...] = (
        ("host", "127.0.0.1:8080"),
        ("content-type", "application/json"),
        ("x-amz-date", AMZ_DATE),
    )
    signed: tuple[str, ...] = ("content-type", "host", "x-amz-date")
    body: bytes = BODY
    credentials: Credentials = KEY
    region: str = "eu-west-1"
    service: str = "lambda"
    signing_date: str | None = None
    scope_date: str | None = None
    scope_region: str | None = None
    scope_service: str | None = None
    sent: tuple[tuple[str, str], ...] = field(default=())  # headers added after signing, at the end
    sent_first: tuple[tuple[str, str], ...] = field(default=())  # ... and at the start
    sent_body: bytes | None = None  # the body sent, if not the one signed
    sent_path: str | None = None  # the path sent, if not the one signed
    sent_query: str | None = None  # the query sent, if not the one signed

    def signature(self) -> str:
        timestamp = dict(self.headers)["x-amz-date"] if "x-amz-date" in dict(self.headers) else AMZ_DATE
        date = self.signing_date or timestamp[:8]
        canonical_headers = "".join(
            f"{name}:{','.join(' '.join(value.split()) for key, value in self.headers if key == name)}\n"
            for name in self.signed
        )
        canonical_request = "\n".join(
            [
                self.method,
                self.path,
                self.query,
                canonical_headers,
                ";".join(self.signed),
                hashlib.sha256(self.body).hexdigest(),
            ]
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = _hmac(f"AWS4{self.credentials.secret_key}".encode(), date)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    def authorization(self) -> str:
        timestamp = dict(self.headers).get("x-amz-date", AMZ_DATE)
        scope = "/".join(
            [
                self.credentials.access_key,
                self.scope_date or self.signing_date or timestamp[:8],
                self.scope_region or self.region,
                self.scope_service or self.service,
                "aws4_request",
            ]
        )
        return (
            f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={';'.join(self.signed)}, "
            f"Signature={self.signature()}"
        )

    def verify(self, verifier: SigV4Verifier | None = None, *, now: float = NOW, host_ok=None):
        verifier = verifier or SigV4Verifier([KEY, TEMPORARY_KEY], account_id=ACCOUNT)
        headers = [*self.sent_first, *self.headers, *self.sent, ("authorization", self.authorization())]
        body = self.body if self.sent_body is None else self.sent_body
        path = self.path if self.sent_path is None else self.sent_path
        query = self.query if self.sent_query is None else self.sent_query
        return verifier.verify(self.method, path, query, headers, body, now=now, host_ok=host_ok)


VALID = Request()


def _with_header(request: Request, name: str, value: str) -> Request:
    """`request` with one more header, signed too."""
    return replace(request, headers=(*request.headers, (name, value)), signed=tuple(sorted({*request.signed, name})))


# -- accepted ------------------------------------------------------------------------------------


def test_a_valid_request_names_its_signer():
    caller = VALID.verify()
    assert caller.access_key == KEY.access_key
    assert caller.account_id == ACCOUNT
    assert caller.user_arn == f"arn:aws:iam::{ACCOUNT}:user/logsvc-local"
    assert caller.authorizer()["iam"]["accessKey"] == KEY.access_key


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-southeast-2"])
def test_any_region_named_in_the_scope_is_accepted(region):
    assert Request(region=region).verify().access_key == KEY.access_key


def test_the_oracle_signer_agrees_with_sign_request():
    # Our spec signer and the project's signer produce the same Authorization for the same request.
    headers = sign_request(
        "POST", "http://127.0.0.1:8080/ingest?x=1", {"content-type": "application/json"}, BODY, KEY,
        "eu-west-1", now=NOW,
    )
    assert headers["authorization"] == VALID.authorization()


def test_a_signed_header_sent_twice_is_accepted_when_both_values_were_signed():
    request = replace(VALID, headers=(*VALID.headers, ("content-type", "charset=utf-8")))
    assert request.verify().access_key == KEY.access_key


def test_temporary_credentials_with_their_own_token_are_accepted():
    request = _with_header(replace(VALID, credentials=TEMPORARY_KEY), "x-amz-security-token", TEMPORARY_KEY.token)
    assert request.verify().access_key == TEMPORARY_KEY.access_key


def test_a_matching_content_sha256_is_accepted():
    request = _with_header(VALID, "x-amz-content-sha256", hashlib.sha256(BODY).hexdigest())
    assert request.verify().access_key == KEY.access_key


@pytest.mark.parametrize("offset", [-300.0, 300.0])
def test_a_date_exactly_five_minutes_off_is_accepted(offset):
    assert VALID.verify(now=NOW + offset).access_key == KEY.access_key


# -- refused, each for its own reason --------------------------------------------------------------

TAMPERED = {
    # Signed over the x-amz-date day, but the Authorization header claims another day (same year,
    # same month, the next day): the scope date must equal the x-amz-date day exactly.
    "scope date another month": (
        replace(VALID, scope_date="20260214"),
        "the credential scope date does not match x-amz-date",
    ),
    "scope date the next day": (
        replace(VALID, scope_date="20260315"),
        "the credential scope date does not match x-amz-date",
    ),
    "scope date another year": (
        replace(VALID, scope_date="20250314"),
        "the credential scope date does not match x-amz-date",
    ),
    # A valid signature that leaves host out: a Function URL requires host to be signed.
    "host not signed": (
        replace(VALID, signed=("content-type", "x-amz-date")),
        "the host header must be signed",
    ),
    "x-amz-date not signed": (
        replace(VALID, signed=("content-type", "host")),
        "the x-amz-date header must be signed",
    ),
    # Signed for eu-west-1, then the scope rewritten: the signing key no longer matches.
    "scope region rewritten": (
        replace(VALID, scope_region="us-east-1"),
        "the signature does not match the request",
    ),
    # Validly signed for another service: refused for the service, not merely a mismatch.
    "scope service s3": (
        replace(VALID, service="s3"),
        "the credential scope names service 's3', not 'lambda'",
    ),
    "scope service rewritten": (
        replace(VALID, scope_service="execute-api"),
        "the credential scope names service 'execute-api', not 'lambda'",
    ),
    # A second value of a signed header slipped in after signing (before or after the first).
    "signed header sent twice, injected after": (
        replace(VALID, sent=(("content-type", "text/plain"),)),
        "the signature does not match the request",
    ),
    "signed header sent twice, injected before": (
        replace(VALID, sent_first=(("content-type", "text/plain"),)),
        "the signature does not match the request",
    ),
    "signed header sent twice, host injected": (
        replace(VALID, sent=(("host", "evil.example"),)),
        "the signature does not match the request",
    ),
    "signed header missing": (
        replace(VALID, signed=("content-type", "host", "x-amz-date", "x-custom")),
        "signed header 'x-custom' is not in the request",
    ),
    "body changed": (
        replace(VALID, sent_body=BODY.replace(b"signed", b"SIGNED")),
        "the signature does not match the request",
    ),
    "path changed": (
        replace(VALID, sent_path="/read"),
        "the signature does not match the request",
    ),
    "query changed": (
        replace(VALID, sent_query="x=2"),
        "the signature does not match the request",
    ),
    "unknown key": (
        replace(VALID, credentials=Credentials("AKIDNOBODY", KEY.secret_key)),
        "unknown access key 'AKIDNOBODY'",
    ),
    "wrong secret": (
        replace(VALID, credentials=Credentials(KEY.access_key, "not-the-secret")),
        "the signature does not match the request",
    ),
    "session token missing": (
        replace(VALID, credentials=TEMPORARY_KEY),
        "the session token does not match the access key",
    ),
    "session token wrong": (
        _with_header(replace(VALID, credentials=TEMPORARY_KEY), "x-amz-security-token", "another-token"),
        "the session token does not match the access key",
    ),
    "session token on a long-term key": (
        _with_header(VALID, "x-amz-security-token", "a-token"),
        "the session token does not match the access key",
    ),
    "content sha256 of another body": (
        _with_header(VALID, "x-amz-content-sha256", hashlib.sha256(b"other").hexdigest()),
        "x-amz-content-sha256 does not match the body",
    ),
    "content sha256 not hex": (
        _with_header(VALID, "x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        "x-amz-content-sha256 does not match the body",
    ),
    "signed headers unsorted": (
        replace(VALID, signed=("host", "content-type", "x-amz-date")),
        "SignedHeaders must be lower-case, sorted and unique",
    ),
}


@pytest.mark.parametrize("request_, reason", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_tampered_request_is_refused_for_its_own_reason(request_, reason):
    with pytest.raises(SignatureError) as refused:
        request_.verify()
    assert str(refused.value) == reason


@pytest.mark.parametrize("offset", [-301.0, 301.0, 86400.0])
def test_a_date_more_than_five_minutes_off_is_refused(offset):
    with pytest.raises(SignatureError) as refused:
        VALID.verify(now=NOW + offset)
    assert str(refused.value) == f"the signature date {AMZ_DATE} is more than 5 minutes from the server's clock"


def test_a_custom_clock_skew_is_honoured():
    strict = SigV4Verifier(KEY, max_clock_skew=10)
    assert VALID.verify(strict, now=NOW + 10).access_key == KEY.access_key
    with pytest.raises(SignatureError, match="more than 5 minutes"):
        VALID.verify(strict, now=NOW + 11)


AUTHORIZATION = {
    "no header": (None, "missing Authorization header (sign the request with SigV4)"),
    "other scheme": (
        "AWS4-HMAC-SHA1 Credential=x",
        "unsupported authorization scheme 'AWS4-HMAC-SHA1' (expected AWS4-HMAC-SHA256)",
    ),
    "field without =": ("AWS4-HMAC-SHA256 Credential", "malformed Authorization header"),
    "no signature": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314/eu-west-1/lambda/aws4_request, SignedHeaders=host",
        "the Authorization header has no Signature",
    ),
    "short scope": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314/lambda/aws4_request, SignedHeaders=host, "
        f"Signature={'0' * 64}",
        "malformed credential scope (expected KEY/DATE/REGION/lambda/aws4_request)",
    ),
    "empty region": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314//lambda/aws4_request, SignedHeaders=host, "
        f"Signature={'0' * 64}",
        "malformed credential scope (expected KEY/DATE/REGION/lambda/aws4_request)",
    ),
    "not aws4_request": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314/eu-west-1/lambda/aws5_request, SignedHeaders=host, "
        f"Signature={'0' * 64}",
        "malformed credential scope (expected KEY/DATE/REGION/lambda/aws4_request)",
    ),
    "signature not hex": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314/eu-west-1/lambda/aws4_request, SignedHeaders=host, "
        f"Signature={'G' * 64}",
        "malformed signature",
    ),
    "upper-case signed header": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314/eu-west-1/lambda/aws4_request, SignedHeaders=Host, "
        f"Signature={'0' * 64}",
        "SignedHeaders must be lower-case, sorted and unique",
    ),
    "repeated signed header": (
        "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20260314/eu-west-1/lambda/aws4_request, "
        f"SignedHeaders=host;host, Signature={'0' * 64}",
        "SignedHeaders must be lower-case, sorted and unique",
    ),
}


@pytest.mark.parametrize("authorization, reason", AUTHORIZATION.values(), ids=AUTHORIZATION.keys())
def test_a_malformed_authorization_header_is_refused_for_its_own_reason(authorization, reason):
    headers = [("host", "127.0.0.1:8080"), ("x-amz-date", AMZ_DATE)]
    if authorization is not None:
        headers.append(("authorization", authorization))
    with pytest.raises(SignatureError) as refused:
        SigV4Verifier(KEY).verify("GET", "/read", "", headers, b"", now=NOW)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    "amz_date, reason",
    [
        ("2026-03-14T10:11:12Z", "x-amz-date '2026-03-14T10:11:12Z' is not of the form YYYYMMDDTHHMMSSZ"),
        ("20261314T101112Z", "x-amz-date '20261314T101112Z' is not a valid time"),
    ],
)
def test_a_malformed_x_amz_date_is_refused(amz_date, reason):
    request = replace(VALID, headers=(("host", "127.0.0.1:8080"), ("content-type", "application/json"),
                                      ("x-amz-date", amz_date)),
                      signing_date="20260314")
    with pytest.raises(SignatureError) as refused:
        request.verify()
    assert str(refused.value) == reason


def test_a_verifier_needs_credentials():
    with pytest.raises(ValueError):
        SigV4Verifier([])


# -- the host the request was signed for ------------------------------------------------------------


def test_host_ok_accepts_a_request_signed_for_this_server():
    verifier = SigV4Verifier(KEY)
    assert VALID.verify(verifier, host_ok=lambda host: host == "127.0.0.1:8080").access_key == KEY.access_key


def test_host_ok_refuses_a_request_signed_for_another_host():
    with pytest.raises(SignatureError) as refused:
        VALID.verify(SigV4Verifier(KEY), host_ok=lambda host: host == "localhost:8080")
    assert str(refused.value) == "the request is signed for host '127.0.0.1:8080', not for this server"


def test_host_ok_checks_every_host_header():
    # Both values signed: the signature is valid, but one names another server.
    request = replace(VALID, headers=(("host", "evil.example"), *VALID.headers))
    assert request.verify().access_key == KEY.access_key
    with pytest.raises(SignatureError, match="not for this server"):
        request.verify(SigV4Verifier(KEY), host_ok=lambda host: host == "127.0.0.1:8080")


# -- signing: canonical query, host header, credentials ----------------------------------------------


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),  # same key: sorted by value
        ("a=x+y", "a=x%20y"),  # '+' is a space
        ("a=%7e&b=~", "a=~&b=~"),  # unreserved characters are never escaped
        ("k=%ff", "k=%FF"),  # escapes that are not UTF-8 survive, upper-cased
        ("q=a/b?c", "q=a%2Fb%3Fc"),  # reserved characters are escaped
        ("&&a=1&&", "a=1"),  # empty segments carry nothing
        ("flag", "flag="),  # a key without a value
        ("a%20b=1", "a%20b=1"),
    ],
)
def test_canonical_query(raw, canonical):
    assert canonical_query(raw) == canonical


def _signed(url: str, headers: dict | None = None, credentials: Credentials = KEY) -> dict:
    return sign_request("POST", url, headers or {}, BODY, credentials, "eu-west-1", now=NOW)


@pytest.mark.parametrize(
    "url, host",
    [
        ("http://127.0.0.1:8080/ingest", "127.0.0.1:8080"),
        ("http://127.0.0.1:80/ingest", "127.0.0.1"),  # a scheme's default port is left out
        ("https://example.com:443/ingest", "example.com"),
        ("https://example.com:80/ingest", "example.com:80"),
        ("http://[::1]:8080/ingest", "[::1]:8080"),
        ("http://[::1]/ingest", "[::1]"),
    ],
)
def test_sign_request_signs_the_host_as_a_client_sends_it(url, host):
    headers = _signed(url)
    assert headers["host"] == host
    verified = SigV4Verifier(KEY).verify("POST", "/ingest", "", list(headers.items()), BODY, now=NOW)
    assert verified.access_key == KEY.access_key


def test_sign_request_signs_the_given_headers_and_x_amz_date_not_date():
    headers = _signed("http://127.0.0.1:8080/ingest", {"Content-Type": "application/json",
                                                       "Date": "Sat, 14 Mar 2026 10:11:12 GMT"})
    assert "date" not in headers
    assert headers["x-amz-date"] == AMZ_DATE
    assert "SignedHeaders=content-type;host;x-amz-date," in headers["authorization"]
    scope = f"{KEY.access_key}/20260314/eu-west-1/lambda/aws4_request"
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={scope}, ")


def test_sign_request_with_temporary_credentials_sends_and_signs_the_token():
    headers = _signed("http://127.0.0.1:8080/ingest", credentials=TEMPORARY_KEY)
    assert headers["x-amz-security-token"] == TEMPORARY_KEY.token
    assert "x-amz-security-token" in headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    verified = SigV4Verifier(TEMPORARY_KEY).verify("POST", "/ingest", "", list(headers.items()), BODY, now=NOW)
    assert verified.access_key == TEMPORARY_KEY.access_key


def test_sign_request_accepts_a_text_body_and_no_headers():
    headers = sign_request("POST", "http://127.0.0.1:8080/ingest", None, BODY.decode(), KEY, "eu-west-1", now=NOW)
    assert headers == _signed("http://127.0.0.1:8080/ingest")


def test_default_credentials_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    assert default_credentials() == Credentials("AKIDFROMENV", "env-secret", "env-token")


def test_no_credentials_anywhere_is_a_signature_error():
    # The isolated test environment has no AWS variables, profile files or instance metadata.
    with pytest.raises(SignatureError, match="no AWS credentials found"):
        default_credentials()


# -- found by mutation testing: the caller's identity, exact messages, edge cases of signing ---------


def test_the_caller_block_is_what_a_function_url_puts_in_the_event():
    caller = VALID.verify()
    assert caller.user_id == principal_id(KEY.access_key)
    assert caller.authorizer() == {
        "iam": {
            "accessKey": KEY.access_key,
            "accountId": ACCOUNT,
            "callerId": caller.user_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{ACCOUNT}:user/logsvc-local",
            "userId": caller.user_id,
        }
    }


def test_principal_id_is_a_stable_iam_style_id_that_hides_the_key():
    made = principal_id(KEY.access_key)
    # Written out: the id must not change between versions (it shows in stored events).
    digest = hashlib.sha256(b"logsvc-principal:" + KEY.access_key.encode()).digest()
    assert made == "AIDA" + base64.b32encode(digest).decode()[:17]
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", made) and KEY.access_key not in made
    assert principal_id(TEMPORARY_KEY.access_key) != made


LONG_KEY = "AKID" + "K" * 40


@pytest.mark.parametrize(
    "request_, reason",
    [
        (replace(VALID, credentials=Credentials(LONG_KEY, "x")), f"unknown access key {LONG_KEY[:32]!r}"),
        (replace(VALID, service="s" * 40), f"the credential scope names service {'s' * 32!r}, not 'lambda'"),
        (replace(VALID, headers=(("host", "h" * 150), *VALID.headers[1:])),
         f"the request is signed for host {'h' * 100!r}, not for this server"),
    ],
    ids=["long key", "long service", "long host"],
)
def test_quoted_values_are_cut_to_their_limit(request_, reason):
    with pytest.raises(SignatureError) as refused:
        request_.verify(host_ok=lambda host: False)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    "authorization, reason",
    [
        ("A" * 40 + " Credential=x", f"unsupported authorization scheme {'A' * 32!r} (expected AWS4-HMAC-SHA256)"),
        # '=' inside a value: the field name is what comes before the first '='.
        ("AWS4-HMAC-SHA256 Credential=AKIDOTHER/2026=03/eu-west-1/lambda/aws4_request, SignedHeaders=host, "
         f"Signature={'0' * 64}", "unknown access key 'AKIDOTHER'"),
    ],
)
def test_authorization_header_parsing_edge_cases(authorization, reason):
    headers = [("host", "127.0.0.1:8080"), ("x-amz-date", AMZ_DATE), ("authorization", authorization)]
    with pytest.raises(SignatureError) as refused:
        SigV4Verifier(KEY).verify("GET", "/read", "", headers, b"", now=NOW)
    assert str(refused.value) == reason


def test_a_long_malformed_x_amz_date_is_quoted_cut():
    request = replace(VALID, headers=(*VALID.headers[:2], ("x-amz-date", "9" * 40)), signing_date="20260314")
    with pytest.raises(SignatureError) as refused:
        request.verify()
    assert str(refused.value) == f"x-amz-date {'9' * 32!r} is not of the form YYYYMMDDTHHMMSSZ"


def test_messages_for_missing_credentials():
    with pytest.raises(ValueError) as info:
        SigV4Verifier([])
    assert str(info.value) == "SigV4Verifier needs at least one set of credentials"
    with pytest.raises(SignatureError) as refused:
        default_credentials()
    assert str(refused.value) == (
        "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    )


def test_without_now_both_sides_use_the_clock():
    headers = sign_request("POST", "http://127.0.0.1:8080/ingest", {}, BODY, KEY, "eu-west-1")
    assert SigV4Verifier(KEY).verify("POST", "/ingest", "", list(headers.items()), BODY).access_key == KEY.access_key


@pytest.mark.parametrize("body", [None, b"", ""])
def test_an_empty_body_is_signed_as_empty(body):
    headers = sign_request("GET", "http://127.0.0.1:8080/read", None, body, KEY, "eu-west-1", now=NOW)
    verified = SigV4Verifier(KEY).verify("GET", "/read", "", list(headers.items()), b"", now=NOW)
    assert verified.access_key == KEY.access_key


@pytest.mark.parametrize(
    "url, raw_path",
    [
        ("http://127.0.0.1:8080", "/"),  # no path: the request line says /
        ("http://127.0.0.1:8080/ingest/a:b@c!$", "/ingest/a:b@c!$"),  # characters a client sends as they are
        ("http://127.0.0.1:8080/ingest/a b", "/ingest/a%20b"),  # and one it escapes
    ],
)
def test_sign_request_signs_the_path_as_the_client_sends_it(url, raw_path):
    headers = sign_request("GET", url, {}, b"", KEY, "eu-west-1", now=NOW)
    verified = SigV4Verifier(KEY).verify("GET", raw_path, "", list(headers.items()), b"", now=NOW)
    assert verified.access_key == KEY.access_key


def test_a_host_header_given_to_sign_request_is_kept():
    headers = sign_request("GET", "http://127.0.0.1:8080/read", {"Host": "logs.example"}, b"", KEY, "eu-west-1",
                           now=NOW)
    assert headers["host"] == "logs.example"
