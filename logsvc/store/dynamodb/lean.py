"""A lean DynamoDB client for the store's hot paths, so that a CLI command skips botocore's client.

Why: `create_client("dynamodb")` costs about 60 ms (the service model, the endpoint rule set) and
importing `botocore.session` pulls in the client machinery (waiters, docs, paginators): a `send`
paid more for building the client than for its two requests. DynamoDB's JSON protocol is simple:
``POST /`` with ``X-Amz-Target: DynamoDB_20120810.<Op>`` and the same request dict the store passes
to botocore as the body; the response body is what botocore returns (plus ``ResponseMetadata``).

botocore still does what it is trusted for: the credentials (its `EnvProvider`, the first link of
its chain), the signature (`SigV4Auth`), and the HTTP session (`URLLib3Session`, the same pool,
timeouts, socket options and the same exceptions for refused connections and timeouts). Errors
are parsed as botocore's JSON parser does and raised as the class the full client raises
(`client.exceptions.from_code`), with the same ``response`` and operation name, so every error
translation and hint keeps working. The client does not retry: the store's own loop does.

`lean_client` returns None, and the caller builds the full botocore client, whenever anything
could make botocore behave differently from this: a named profile, no credentials in the
environment, an unusual region or partition, FIPS, dual-stack, proxies, a blank CA bundle,
configured endpoints or any other setting in the shared config file's profile (a CA bundle is
honoured as botocore honours it). Operations other than the
hot ones (table creation, waiters, `exceptions`, `meta`, ...) go to a full client made on first use.
Once that client exists, the hot calls emit its ``before-call`` and ``after-call`` events (hooks on
`meta.events` see them, and a ``before-call`` hook may answer in the service's place); botocore's
other events (``before-send``, ``needs-retry``, ...) belong to requests this client never makes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import uuid
from base64 import b64decode
from collections.abc import Callable
from urllib.parse import urlsplit

import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import EnvProvider
from botocore.exceptions import ConfigNotFound, ConfigParseError
from botocore.httpsession import URLLib3Session
from botocore.utils import is_valid_endpoint_url, lowercase_dict

# The store's hot paths (writes, reads, scan, insight, check); everything else goes to botocore.
OPERATIONS = {
    "put_item": "PutItem",
    "get_item": "GetItem",
    "batch_get_item": "BatchGetItem",
    "batch_write_item": "BatchWriteItem",
    "query": "Query",
}
_TARGET_PREFIX = "DynamoDB_20120810."
_CONTENT_TYPE = "application/x-amz-json-1.0"
# Regions of the standard `aws` partition, whose endpoint is https://dynamodb.{region}.amazonaws.com.
_AWS_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-(central|north|south|east|west|northeast|northwest"
                         r"|southeast|southwest)-\d{1,2}$")
# botocore's own check of a region name, applied even with an endpoint URL (`validate_region_name`).
_REGION_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")
# Environment variables that change what botocore's client would do: then use botocore's client.
_CHANGES_THE_CLIENT = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ACCOUNT_ID",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE", "AWS_DEFAULTS_MODE", "AWS_SIGV4A_SIGNING_REGION_SET",
    "AWS_AUTH_SCHEME_PREFERENCE",
    "_X_AMZN_TRACE_ID",  # in a Lambda function botocore forwards it (X-Amzn-Trace-Id)
)
# Settings of the shared config file's profile that cannot change the request or its endpoint
# (credentials lose to the environment's; the client's Config fixes retries and keep-alive).
_HARMLESS_SETTINGS = frozenset({
    "region", "output", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "role_arn",
    "source_profile", "credential_source", "role_session_name", "external_id", "mfa_serial",
    "duration_seconds", "web_identity_token_file", "credential_process", "sso_session", "sso_account_id",
    "sso_role_name", "sso_region", "sso_start_url", "sso_registration_scopes", "retry_mode", "max_attempts",
    "tcp_keepalive", "ca_bundle", "cli_pager", "cli_auto_prompt", "cli_timestamp_format", "cli_binary_format",
    "cli_history",
})


def lean_client(region: str | None, endpoint_url: str | None, *, full_client: Callable[[], object],
                connect_timeout: float = 2.0, read_timeout: float = 5.0) -> LeanDynamoDB | None:
    """A `LeanDynamoDB` for a session without a named profile, or None when botocore's client
    could behave differently (see the module docstring); `full_client()` makes that client."""
    if not region or not _REGION_NAME.match(region):
        return None
    if endpoint_url is None:
        if not _AWS_REGION.match(region):
            return None  # other partitions (cn-, us-gov-, iso), local zones: botocore's rule set knows
        endpoint_url = f"https://dynamodb.{region}.amazonaws.com"
    elif not is_valid_endpoint_url(endpoint_url):
        return None  # botocore's client raises its own error for it
    profile = _default_profile()
    if profile is None or not _environment_is_plain():
        return None
    verify = _verify(profile)
    if verify is None:
        return None
    if not (os.environ.get(EnvProvider.ACCESS_KEY) and os.environ.get(EnvProvider.SECRET_KEY)):
        return None  # the rest of botocore's chain (files, SSO, roles, IMDS) needs its session
    credentials = EnvProvider().load()
    if credentials is None:
        return None
    return LeanDynamoDB(region, endpoint_url, credentials, full_client=full_client, verify=verify,
                        connect_timeout=connect_timeout, read_timeout=read_timeout)


def _environment_is_plain() -> bool:
    if any(os.environ.get(name) for name in _CHANGES_THE_CLIENT):
        return False
    # botocore honours the proxies urllib finds in the environment (`get_environ_proxies`).
    return not any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
                   for name, value in os.environ.items())


def _verify(profile: dict) -> str | bool | None:
    """What botocore verifies TLS with (AWS_CA_BUNDLE, the profile's ca_bundle, REQUESTS_CA_BUNDLE,
    else the default CAs); None for a blank value, which botocore's client refuses."""
    if "AWS_CA_BUNDLE" in os.environ:
        value = os.environ["AWS_CA_BUNDLE"]
    elif "ca_bundle" in profile:
        value = profile["ca_bundle"]
    elif "REQUESTS_CA_BUNDLE" in os.environ:
        value = os.environ["REQUESTS_CA_BUNDLE"]
    else:
        return True
    return value if isinstance(value, str) and value.strip() else None


def _default_profile() -> dict | None:
    """The shared config file's default profile, or None when it holds anything that could change
    the client (or cannot be read)."""
    path = os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")
    if not os.path.isfile(path):
        return {}
    from botocore.configloader import load_config

    try:
        config = load_config(path)
    except (ConfigNotFound, ConfigParseError, OSError, UnicodeDecodeError):
        return None  # whatever botocore makes of a broken file, let botocore say it
    if any(value for key, value in config.items() if key not in ("profiles", "sso_sessions")):
        return None  # `services` sections and the like
    profile = config.get("profiles", {}).get("default", {})
    return profile if set(profile) <= _HARMLESS_SETTINGS else None


class LeanDynamoDB:
    """The hot DynamoDB operations over one signed HTTP pool; anything else on the full client."""

    def __init__(self, region: str, endpoint_url: str, credentials, *, full_client: Callable[[], object],
                 verify: str | bool = True, connect_timeout: float = 2.0, read_timeout: float = 5.0) -> None:
        self.region = region
        # As botocore joins an endpoint and the path "/": a bare host gets "/", a path stays.
        self.url = endpoint_url if urlsplit(endpoint_url).path else endpoint_url + "/"
        self._credentials = credentials
        self._make_full = full_client
        self._full = None
        self._full_lock = threading.Lock()
        self._user_agent = f"Botocore/{botocore.__version__} logsvc-lean"
        self._http = URLLib3Session(
            verify=verify,
            timeout=(connect_timeout, read_timeout),
            max_pool_connections=32,
            # botocore's defaults plus keep-alive, which make_client turns on.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)],
        )

    def __getattr__(self, name: str):
        if name in OPERATIONS:
            operation = OPERATIONS[name]

            def call(**params):
                return self._call(name, operation, params)

            call.__name__ = name
            return call
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.full_client(), name)

    def full_client(self):
        """botocore's client for the same settings, made once on first use."""
        with self._full_lock:
            if self._full is None:
                self._full = self._make_full()
            return self._full

    def close(self) -> None:
        self._http.close()
        if self._full is not None:
            self._full.close()

    def _call(self, name: str, operation: str, params: dict) -> dict:
        if not _checked_as_botocore_would(params):
            return getattr(self.full_client(), name)(**params)  # its ParamValidationError, or bytes to encode
        try:
            body = json.dumps(params, separators=(",", ":")).encode()
        except TypeError:  # values only botocore's serializer knows (bytes, datetimes)
            return getattr(self.full_client(), name)(**params)
        headers = {"X-Amz-Target": _TARGET_PREFIX + operation, "Content-Type": _CONTENT_TYPE,
                   "User-Agent": self._user_agent}
        # Once botocore's client exists (someone asked for `meta`, e.g. to hook `meta.events`), the
        # calls emit its before-call and after-call events as its own calls do.
        hooks = self._full.meta.events if self._full is not None else None
        answer = model = context = None
        if hooks is not None:
            model, context = self._full.meta.service_model.operation_model(operation), {}
            request_dict = {"url_path": "/", "query_string": "", "method": "POST", "headers": dict(headers),
                            "body": body, "url": self.url, "context": context}
            _, answer = hooks.emit_until_response(f"before-call.dynamodb.{operation}", model=model,
                                                  params=request_dict, request_signer=None, context=context)
        if answer is not None:
            response, parsed = answer
        else:
            request = AWSRequest(method="POST", url=self.url, data=body, headers=headers)
            SigV4Auth(self._credentials, "dynamodb", self.region).add_auth(request)
            # botocore adds these after signing: they are sent, not signed.
            request.headers["amz-sdk-invocation-id"] = str(uuid.uuid4())
            request.headers["amz-sdk-request"] = "attempt=1; max=1"
            response = self._http.send(request.prepare())
            parsed = self._parsed(response)
        if hooks is not None:
            hooks.emit(f"after-call.dynamodb.{operation}", http_response=response, parsed=parsed, model=model,
                       context=context)
        if response.status_code >= 300:
            raise self.full_client().exceptions.from_code(parsed.get("Error", {}).get("Code"))(parsed, operation)
        return parsed

    def _parsed(self, response) -> dict:
        """The response as botocore's JSON parser and retry handler leave it."""
        # As botocore's standard retries with one attempt leave it (the store's loop does the retrying).
        metadata = {"HTTPStatusCode": response.status_code, "HTTPHeaders": lowercase_dict(response.headers),
                    "MaxAttemptsReached": True, "RetryAttempts": 0}
        if "x-amzn-requestid" in response.headers:
            metadata = {"RequestId": response.headers["x-amzn-requestid"], **metadata}
        if response.status_code >= 300:
            return self._error(response, metadata)
        parsed = _decoded(json.loads(response.content) if response.content else {})
        parsed["ResponseMetadata"] = metadata
        return parsed

    def _error(self, response, metadata: dict) -> dict:
        """An error response as botocore's JSON parser makes it, with a modeled error's members."""
        content = response.content.strip() if response.content else b""
        body: dict = {}
        if response.status_code >= 500 and (not content or content.startswith(b"<html>")):
            import http.client

            code, message = str(response.status_code), http.client.responses.get(response.status_code, "")
            metadata = {key: value for key, value in metadata.items() if key != "RequestId"}
        else:
            try:
                body = json.loads(content.decode("utf-8")) if content else {}
            except ValueError:
                body = {"message": content.decode("utf-8")}
            message = body.get("message", body.get("Message", ""))
            code = body.get("__type", str(response.status_code))
            code = code.split(":", 1)[0].rsplit("#", 1)[-1]
        parsed = {"Error": {"Message": message, "Code": code}, "ResponseMetadata": metadata}
        shape = self.full_client().meta.service_model.shape_for_error_code(code)
        if shape is not None:  # a modeled error: botocore adds its members (message, Item, ...)
            for member, member_shape in shape.members.items():
                value = body.get(member_shape.serialization.get("name", member))
                if value is not None:
                    parsed[member] = _item(value) if member == "Item" else value
        return parsed


def _checked_as_botocore_would(params: dict) -> bool:
    """False for the parameter errors botocore's validation catches before sending that a user's
    input can reach (an empty table name, a Limit below 1): the full client then raises its
    ParamValidationError. The rest of each request is the store's own, always well-formed."""
    names = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems") or {})
    if any(not isinstance(name, str) or not name for name in names):
        return False
    limit = params.get("Limit")
    return limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1)


# -- responses: binary attribute values arrive base64-encoded; botocore returns bytes -----------


def _decoded(parsed: dict) -> dict:
    for key in ("Item", "Attributes", "LastEvaluatedKey"):
        if key in parsed:
            parsed[key] = _item(parsed[key])
    if "Items" in parsed:
        parsed["Items"] = [_item(item) for item in parsed["Items"]]
    if "Responses" in parsed:
        parsed["Responses"] = {table: [_item(item) for item in items] for table, items in parsed["Responses"].items()}
    if "UnprocessedKeys" in parsed:
        parsed["UnprocessedKeys"] = {
            table: {**request, "Keys": [_item(key) for key in request.get("Keys", [])]}
            for table, request in parsed["UnprocessedKeys"].items()}
    if "UnprocessedItems" in parsed:
        parsed["UnprocessedItems"] = {table: [_write(write) for write in writes]
                                      for table, writes in parsed["UnprocessedItems"].items()}
    return parsed


def _write(write: dict) -> dict:
    if "PutRequest" in write:
        return {**write, "PutRequest": {**write["PutRequest"], "Item": _item(write["PutRequest"].get("Item", {}))}}
    if "DeleteRequest" in write:
        delete = write["DeleteRequest"]
        return {**write, "DeleteRequest": {**delete, "Key": _item(delete.get("Key", {}))}}
    return write


def _item(item: dict) -> dict:
    return {name: _value(value) for name, value in item.items()}


def _value(value: dict) -> dict:
    if "B" in value:
        return {**value, "B": b64decode(value["B"])}
    if "BS" in value:
        return {**value, "BS": [b64decode(blob) for blob in value["BS"]]}
    if "M" in value:
        return {**value, "M": _item(value["M"])}
    if "L" in value:
        return {**value, "L": [_value(member) for member in value["L"]]}
    return value
