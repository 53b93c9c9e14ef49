"""AWS for the CLI: clients from the resolved settings, and one-line hints for AWS errors.

botocore is imported only here, in the DynamoDB store and for SigV4, and only when a command needs AWS.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from logsvc.errors import LogsvcError, StoreError, UsageError
from logsvc.store import StoreMisconfigured, StoreUnavailable

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_BAD_CREDENTIALS = {"UnrecognizedClientException", "InvalidSignatureException", "InvalidClientTokenId",
                    "SignatureDoesNotMatch", "MissingAuthenticationToken", "AuthFailure"}
_DENIED = {"AccessDeniedException", "AccessDenied"}


def setup_error(exc: Exception) -> LogsvcError | None:
    """The error for a problem with the AWS set-up itself (region, credentials, profile, SSO), which
    every AWS command shares; None for other exceptions."""
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoRegionError):
        return UsageError("no AWS region is configured",
                          hint="set AWS_REGION, `logsvc config set region REGION`, or pass --region")
    if isinstance(exc, (boto.NoCredentialsError, boto.PartialCredentialsError)):
        return StoreError("no AWS credentials found", hint="run `aws configure` or `aws sso login`, or set AWS_PROFILE")
    if isinstance(exc, boto.ProfileNotFound):
        return UsageError(str(exc), hint="see `aws configure list-profiles`")
    if isinstance(exc, (boto.SSOTokenLoadError, boto.UnauthorizedSSOTokenError, boto.TokenRetrievalError)):
        return StoreError(f"the AWS SSO session is missing or expired ({exc})", hint="run `aws sso login`")
    return None


def credentials_refused(code: str) -> LogsvcError | None:
    """The error for an AWS error code saying the credentials are expired or not accepted."""
    if code in _EXPIRED:
        return StoreError(f"the AWS credentials have expired ({code})",
                          hint="refresh them: `aws sso login`, or new keys in AWS_PROFILE")
    if code in _BAD_CREDENTIALS:
        return StoreError(f"AWS rejected the credentials ({code})",
                          hint="check AWS_PROFILE / AWS_ACCESS_KEY_ID and that they belong to this account")
    return None


def dynamodb_client(settings, policy=None):
    """A DynamoDB client for the profile, region and endpoint in `settings`; `policy` (a
    `logsvc.retry.RetryPolicy`) sets its timeouts."""
    from logsvc.store.dynamodb import make_client

    timeouts = {"connect_timeout": policy.connect_timeout, "read_timeout": policy.read_timeout} if policy else {}

    def botocore_client():
        import botocore.session

        # A session of our own: it reads the AWS environment as it is now, profile included.
        session = botocore.session.Session(profile=settings["aws_profile"])
        return make_client(settings["region"], settings["endpoint_url"], session=session, **timeouts)

    with translate():
        if settings["aws_profile"] is None:
            # The hot operations without botocore's client (~80 ms a command) when nothing in the
            # environment could make that client behave differently (`lean` module docstring).
            from logsvc.store.dynamodb.lean import lean_client

            lean = lean_client(settings["region"], settings["endpoint_url"], full_client=botocore_client, **timeouts)
            if lean is not None:
                return lean
        return botocore_client()


@contextmanager
def translate(table: str | None = None) -> Iterator[None]:
    """Turn botocore's exceptions into LogsvcError with a hint (or StoreUnavailable if transient)."""
    from botocore import exceptions as boto

    try:
        yield
    except StoreMisconfigured as exc:
        if exc.code == "ShardCountMismatch":  # a configuration mistake: the table knows its count
            raise UsageError(str(exc), hint="`logsvc config unset shards` (and unset LOGSVC_SHARDS)") from None
        if exc.code == "UnknownHost":  # likewise a typo in the endpoint, as for the url target
            raise UsageError(str(exc), hint="check --endpoint-url / `logsvc config show` (where it came from)") from None
        # The store gave up at once on an error retrying cannot fix: give its hint.
        if isinstance(exc.__cause__, boto.ClientError):
            raise _client_error(exc.__cause__, table) from None
        raise StoreError(str(exc)) from None
    except (boto.NoRegionError, boto.NoCredentialsError, boto.PartialCredentialsError, boto.ProfileNotFound,
            boto.SSOTokenLoadError, boto.UnauthorizedSSOTokenError, boto.TokenRetrievalError) as exc:
        raise setup_error(exc) from None
    except boto.SSLError as exc:
        raise StoreError(f"TLS error talking to AWS: {exc}",
                         hint="check the endpoint URL and AWS_CA_BUNDLE") from None
    except (boto.EndpointConnectionError, boto.ConnectTimeoutError, boto.ReadTimeoutError) as exc:
        raise StoreUnavailable(f"cannot reach DynamoDB: {exc}") from None
    except boto.ClientError as exc:
        raise _client_error(exc, table) from None


def _client_error(exc, table: str | None) -> LogsvcError:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    refused = credentials_refused(code)
    if refused is not None:
        return refused
    if code in _DENIED:
        return StoreError(f"access denied: {message}",
                          hint="the identity needs dynamodb:PutItem/BatchWriteItem/Query/GetItem on the table and its index")
    if code == "ResourceNotFoundException":
        name = f"table {table!r}" if table else "the table"
        return StoreError(f"{name} was not found ({message})",
                          hint="check the table name and region, or create it with `logsvc table create`")
    return StoreError(f"DynamoDB error {code}: {message}")


class TranslatedStore:
    """A DynamoDB store whose AWS errors arrive as LogsvcError with hints."""

    def __init__(self, store) -> None:
        self._store = store

    def put(self, entries):
        with translate(self._store.table_name):
            return self._store.put(entries)

    def recent(self, query):
        with translate(self._store.table_name):
            return self._store.recent(query)

    def follow(self, cursor, query):
        with translate(self._store.table_name):
            return self._store.follow(cursor, query)

    def count_by_bucket(self, query, edges):
        with translate(self._store.table_name):
            return self._store.count_by_bucket(query, edges)

    def page_after(self, query, after):
        with translate(self._store.table_name):
            return self._store.page_after(query, after)

    def close(self) -> None:
        self._store.close()
