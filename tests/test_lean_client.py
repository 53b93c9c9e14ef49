"""The lean DynamoDB client against botocore's own, side by side on one moto server on loopback.

Results, errors (type, operation, message, response), connection failures and timeouts must be
what botocore's client gives; requests must be signed as botocore signs them; anything the lean
client cannot do exactly as botocore would goes to botocore's client.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from dynamo_fixtures import REGION, dynamo_client, make_store, make_table, moto_endpoint, new_client  # noqa: F401
from logsvc.config import resolve
from logsvc.store import ConflictError
from logsvc.store.dynamodb import create_table, delete_table
from logsvc.store.dynamodb.lean import LeanDynamoDB, lean_client
from tests.test_imports import imported_modules


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def lean_for(endpoint: str, **timeouts) -> LeanDynamoDB:
    client = lean_client(REGION, endpoint, full_client=lambda: new_client(endpoint), **timeouts)
    assert isinstance(client, LeanDynamoDB)
    return client


@pytest.fixture
def lean(aws_env, moto_endpoint):  # noqa: F811
    client = lean_for(moto_endpoint)
    yield client
    client.close()


def same(lean_response: dict, boto_response: dict) -> None:
    """Equal results, and equal metadata apart from what differs per request (id, date, length)."""
    lean_meta, boto_meta = lean_response.pop("ResponseMetadata"), boto_response.pop("ResponseMetadata")
    assert lean_response == boto_response
    varying = {"RequestId", "HTTPHeaders"}
    assert {k: v for k, v in lean_meta.items() if k not in varying} == {
        k: v for k, v in boto_meta.items() if k not in varying}
    assert set(lean_meta["HTTPHeaders"]) == set(boto_meta["HTTPHeaders"])
    assert set(lean_meta) == set(boto_meta)


def item(entry_id: str, shard: str = "LOG#0", **extra) -> dict:
    return {"LogID": {"S": entry_id}, "DateTime": {"S": "2026-01-01T00:00:00.000000+00:00"},
            "Severity": {"S": "info"}, "Message": {"S": f"m {entry_id}"}, "Shard": {"S": shard},
            "TimeId": {"S": f"2026-01-01T00:00:00.000000+00:00#{entry_id}"}, **extra}


# -- results -------------------------------------------------------------------------------------


def test_each_operation_returns_what_botocore_returns(lean, dynamo_client, make_table):  # noqa: F811
    table = make_table()
    ids = sorted(str(uuid.uuid4()) for _ in range(6))
    # Written by each client in turn, read back by both.
    same(lean.put_item(TableName=table, Item=item(ids[0])), dynamo_client.put_item(TableName=table, Item=item(ids[1])))
    same(lean.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item(ids[2])}}]}),
         dynamo_client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item(ids[3])}}]}))
    binary = {"Blob": {"B": b"\x00\xffraw"}, "Blobs": {"BS": [b"a", b"\x01"]},
              "Nested": {"M": {"inner": {"L": [{"B": b"\x02"}, {"N": "1.5"}]}}}}
    dynamo_client.put_item(TableName=table, Item=item(ids[4], **binary))
    for key in (ids[0], ids[3], ids[4], "missing"):
        request = {"TableName": table, "Key": {"LogID": {"S": key}}, "ConsistentRead": True}
        same(lean.get_item(**request), dynamo_client.get_item(**request))
    assert lean.get_item(TableName=table, Key={"LogID": {"S": ids[4]}})["Item"]["Blob"] == {"B": b"\x00\xffraw"}
    batch = {table: {"Keys": [{"LogID": {"S": key}} for key in ids], "ConsistentRead": True}}
    lean_batch, boto_batch = lean.batch_get_item(RequestItems=batch), dynamo_client.batch_get_item(RequestItems=batch)
    for response in (lean_batch, boto_batch):
        response["Responses"][table].sort(key=lambda found: found["LogID"]["S"])
    same(lean_batch, boto_batch)
    assert len(lean_batch["Responses"][table]) == 5
    query = {"TableName": table, "IndexName": "ByTime", "KeyConditionExpression": "Shard = :s",
             "ExpressionAttributeValues": {":s": {"S": "LOG#0"}}, "ScanIndexForward": False, "Limit": 2}
    first_lean, first_boto = lean.query(**query), dynamo_client.query(**query)
    assert first_lean["Count"] == 2 and "LastEvaluatedKey" in first_lean
    same(first_lean, first_boto)
    after = {**query, "ExclusiveStartKey": first_boto["LastEvaluatedKey"], "Limit": 10}
    same(lean.query(**after), dynamo_client.query(**after))


def test_a_store_on_the_lean_client_writes_replays_and_reads(lean, make_table):  # noqa: F811
    from logsvc.store.dynamodb import DynamoDBStore

    store = DynamoDBStore(make_table(2), client=lean, retry_seconds=1.0)
    one = {"id": str(uuid.uuid4()), "dateTime": "2026-01-01T00:00:00.000000+00:00", "severity": "error",
           "message": "single"}
    first, again = store.put([one]), store.put([one])  # again: ConditionalCheckFailed, then GetItem
    assert (first.stored, first.replayed) == ([one["id"]], [])
    assert (again.stored, again.replayed) == ([], [one["id"]])
    with pytest.raises(ConflictError):
        store.put([{**one, "message": "other"}])
    batch = [{"id": str(uuid.uuid4()), "dateTime": f"2026-01-01T00:00:{n:02d}.000000+00:00", "severity": "info",
              "message": f"b{n}"} for n in range(30)]  # two BatchWriteItem calls after one BatchGetItem
    assert sorted(store.put(batch).stored) == sorted(entry["id"] for entry in batch)
    from logsvc.store import Query

    shown = store.recent(Query(limit=40)).entries
    assert [entry["message"] for entry in shown][:3] == ["b29", "b28", "b27"]
    assert len(shown) == 31


# -- errors --------------------------------------------------------------------------------------


def raised(call, **params) -> Exception:
    with pytest.raises(Exception) as caught:
        call(**params)
    return caught.value


def same_error(lean_error: Exception, boto_error: Exception) -> None:
    # Each botocore session makes its own modeled classes: the same names over the same bases.
    assert [cls.__qualname__ for cls in type(lean_error).__mro__] == [cls.__qualname__ for cls in type(boto_error).__mro__]
    assert isinstance(lean_error, ClientError)
    assert lean_error.operation_name == boto_error.operation_name
    assert str(lean_error) == str(boto_error)
    lean_response, boto_response = dict(lean_error.response), dict(boto_error.response)
    same(lean_response, boto_response)


def test_client_errors_are_botocores(lean, dynamo_client, make_table):  # noqa: F811
    table = make_table()
    missing = {"TableName": f"missing-{uuid.uuid4().hex[:8]}", "Key": {"LogID": {"S": "x"}}}
    same_error(raised(lean.get_item, **missing), raised(dynamo_client.get_item, **missing))
    assert raised(lean.get_item, **missing).response["Error"]["Code"] == "ResourceNotFoundException"
    entry_id = str(uuid.uuid4())
    dynamo_client.put_item(TableName=table, Item=item(entry_id))
    conditional = {"TableName": table, "Item": item(entry_id), "ConditionExpression": "attribute_not_exists(LogID)"}
    lean_error = raised(lean.put_item, **conditional)
    same_error(lean_error, raised(dynamo_client.put_item, **conditional))
    assert isinstance(lean_error, lean.exceptions.ConditionalCheckFailedException)
    invalid = {"TableName": table, "Key": {"NotTheKey": {"S": "x"}}}
    lean_error = raised(lean.get_item, **invalid)
    same_error(lean_error, raised(dynamo_client.get_item, **invalid))
    assert lean_error.response["Error"]["Code"] == "ValidationException"


def test_what_botocore_refuses_before_sending_is_refused_alike(lean, dynamo_client):  # noqa: F811
    for call in ("get_item", "query"):
        params = {"TableName": "", "Key": {"LogID": {"S": "x"}}} if call == "get_item" else {
            "TableName": "logs", "KeyConditionExpression": "Shard = :s", "Limit": 0,
            "ExpressionAttributeValues": {":s": {"S": "LOG#0"}}}
        lean_error = raised(getattr(lean, call), **params)
        assert isinstance(lean_error, ParamValidationError)
        assert str(lean_error) == str(raised(getattr(dynamo_client, call), **params))


def test_throttling_and_bare_server_errors_are_parsed_as_botocore_parses_them(aws_env, recorder):
    endpoint, _, answers = recorder
    answers.extend([
        (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
              b'"message":"slow down"}'),
        (400, b'{"__type":"com.amazon.coral.availability#ThrottlingException:extra","Message":"capital M"}'),
        (500, b"<html><body>Service Unavailable</body></html>"),
        (503, b""),
        (500, b"not json at all"),
    ])
    lean, boto = lean_for(endpoint), new_client(endpoint)
    params = {"TableName": "logs", "Key": {"LogID": {"S": "x"}}}
    codes = []
    for _ in answers:
        lean_error, boto_error = raised(lean.get_item, **params), raised(boto.get_item, **params)
        same_error(lean_error, boto_error)
        codes.append(lean_error.response["Error"]["Code"])
    assert codes == ["ProvisionedThroughputExceededException", "ThrottlingException", "500", "503", "500"]


def test_binary_values_in_every_part_of_a_response_become_bytes_as_botocore_makes_them(aws_env, recorder):
    endpoint, _, answers = recorder
    blob = {"B": base64.b64encode(b"\x00key").decode()}
    nested = {"M": {"l": {"L": [blob, {"BS": [blob["B"]]}, {"S": "text"}]}}}
    answers.extend([
        (200, json.dumps({"UnprocessedItems": {"logs": [{"PutRequest": {"Item": {"LogID": blob, "Deep": nested}}},
                                                        {"DeleteRequest": {"Key": {"LogID": blob}}}]}}).encode()),
        (200, json.dumps({"Responses": {"logs": [{"LogID": blob}]},
                          "UnprocessedKeys": {"logs": {"Keys": [{"LogID": blob}], "ConsistentRead": True}}}).encode()),
        (200, json.dumps({"Items": [{"LogID": blob, "Deep": nested}], "Count": 1, "ScannedCount": 3,
                          "LastEvaluatedKey": {"LogID": blob}}).encode()),
        (200, json.dumps({"Attributes": {"LogID": blob}, "ConsumedCapacity": {"TableName": "logs",
                                                                              "CapacityUnits": 1.0}}).encode()),
    ])
    lean, boto = lean_for(endpoint), new_client(endpoint)
    calls = [("batch_write_item", {"RequestItems": {"logs": [{"PutRequest": {"Item": {"LogID": {"S": "x"}}}}]}}),
             ("batch_get_item", {"RequestItems": {"logs": {"Keys": [{"LogID": {"S": "x"}}]}}}),
             ("query", {"TableName": "logs", "KeyConditionExpression": "LogID = :x",
                        "ExpressionAttributeValues": {":x": {"S": "x"}}}),
             ("put_item", {"TableName": "logs", "Item": {"LogID": {"S": "x"}}, "ReturnValues": "ALL_OLD",
                           "ReturnConsumedCapacity": "TOTAL"})]
    results = []
    for name, params in calls:
        lean_result, boto_result = getattr(lean, name)(**params), getattr(boto, name)(**params)
        results.append(dict(lean_result))
        same(lean_result, boto_result)
    assert results[0]["UnprocessedItems"]["logs"][1] == {"DeleteRequest": {"Key": {"LogID": {"B": b"\x00key"}}}}
    assert results[2]["Items"][0]["Deep"]["M"]["l"]["L"][1] == {"BS": [b"\x00key"]}


def test_hooks_on_meta_events_see_the_lean_calls(lean, make_table):  # noqa: F811
    from request_accounting import Accounting

    table = make_table()
    with Accounting(lean) as counts:
        lean.put_item(TableName=table, Item=item(str(uuid.uuid4())))
        lean.query(TableName=table, IndexName="ByTime", KeyConditionExpression="Shard = :s",
                   ExpressionAttributeValues={":s": {"S": "LOG#0"}})
    assert counts.requests == {"PutItem": 1, "Query": 1}
    assert counts.written() == 1 and counts.examined("Query") == 1
    assert counts.of("PutItem")[0].params["TableName"] == table

    def refuse(model, **_):  # a before-call hook may answer in the service's place, as on botocore's client
        from dynamo_fixtures import throttled

        return throttled(type("Request", (), {"url": lean.url})()), {
            "Error": {"Code": "ThrottlingException", "Message": "injected"}, "ResponseMetadata": {}}

    lean.meta.events.register("before-call.dynamodb.GetItem", refuse)
    error = raised(lean.get_item, TableName=table, Key={"LogID": {"S": "x"}})
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == "ThrottlingException"


@pytest.fixture
def refused_endpoint():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def test_a_refused_connection_raises_botocores_exception(aws_env, refused_endpoint):
    lean, boto = lean_for(refused_endpoint), new_client(refused_endpoint)
    params = {"TableName": "logs", "Key": {"LogID": {"S": "x"}}}
    lean_error, boto_error = raised(lean.get_item, **params), raised(boto.get_item, **params)
    assert type(lean_error) is type(boto_error) is EndpointConnectionError
    assert str(lean_error) == str(boto_error)


@pytest.fixture
def silent_endpoint():
    """A loopback server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_read_timeout_raises_botocores_exception(aws_env, silent_endpoint):
    from logsvc.store.dynamodb import make_client

    lean = lean_for(silent_endpoint, connect_timeout=1.0, read_timeout=0.3)
    boto = make_client(REGION, silent_endpoint, connect_timeout=1.0, read_timeout=0.3,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    params = {"TableName": "logs", "Key": {"LogID": {"S": "x"}}}
    lean_error, boto_error = raised(lean.get_item, **params), raised(boto.get_item, **params)
    assert type(lean_error) is type(boto_error) is ReadTimeoutError
    assert str(lean_error) == str(boto_error)


# -- signing -------------------------------------------------------------------------------------


@pytest.fixture
def recorder():
    """A loopback HTTP server keeping each request; it answers 200 `{}`, or what `answers` holds
    ((status, body) pairs, each used for two requests: the lean client's, then botocore's)."""
    seen: list[dict] = []
    answers: list[tuple[int, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            status, answer = answers[(len(seen) - 1) // 2] if answers else (200, b"{}")
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", f"request-{len(seen)}")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen, answers
    server.shutdown()
    server.server_close()


def expected_signature(request: dict, url: str, secret: str, token: str | None) -> str:
    """The signature botocore's SigV4Auth computes for the request as received."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = request["headers"]["authorization"]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    rebuilt = AWSRequest(method="POST", url=url + request["path"], data=request["body"],
                         headers={name: request["headers"][name] for name in signed})
    rebuilt.context["timestamp"] = request["headers"]["x-amz-date"]
    auth = SigV4Auth(Credentials("AKIDLEAN", secret, token), "dynamodb", REGION)
    return auth.signature(auth.string_to_sign(rebuilt, auth.canonical_request(rebuilt)), rebuilt)


def test_requests_are_signed_as_botocore_signs_them(monkeypatch, recorder):
    endpoint, seen, _ = recorder
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLEAN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lean-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "lean-token")
    from logsvc.store.dynamodb import make_client

    lean = lean_for(endpoint)
    params = {"TableName": "logs", "Item": {"LogID": {"S": "x"}}}
    lean.put_item(**params)
    make_client(REGION, endpoint).put_item(**params)  # botocore's, with the same environment credentials
    (lean_request, boto_request) = seen
    headers = lean_request["headers"]
    assert lean_request["path"] == boto_request["path"] == "/"
    assert json.loads(lean_request["body"]) == json.loads(boto_request["body"]) == params
    assert headers["x-amz-target"] == boto_request["headers"]["x-amz-target"] == "DynamoDB_20120810.PutItem"
    assert headers["content-type"] == boto_request["headers"]["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amz-security-token"] == "lean-token"
    algorithm, _, rest = headers["authorization"].partition(" ")
    fields = dict(part.split("=", 1) for part in rest.split(", "))
    boto_fields = dict(part.split("=", 1) for part in boto_request["headers"]["authorization"].partition(" ")[2].split(", "))
    assert algorithm == "AWS4-HMAC-SHA256"
    access_key, date, region, service, terminator = fields["Credential"].split("/")
    assert (access_key, region, service, terminator) == ("AKIDLEAN", REGION, "dynamodb", "aws4_request")
    assert date == headers["x-amz-date"][:8]
    assert fields["SignedHeaders"] == boto_fields["SignedHeaders"]
    assert {"host", "x-amz-date", "x-amz-target", "x-amz-security-token", "content-type"} <= set(
        fields["SignedHeaders"].split(";"))
    assert fields["Signature"] == expected_signature(lean_request, endpoint, "lean-secret", "lean-token")
    assert fields["Signature"] != expected_signature(lean_request, endpoint, "other-secret", "lean-token")


# -- when botocore's client is used instead ------------------------------------------------------


@pytest.mark.parametrize("setting", [
    {"AWS_PROFILE": "work"}, {"AWS_USE_FIPS_ENDPOINT": "true"}, {"AWS_ENDPOINT_URL_DYNAMODB": "http://x:1"},
    {"HTTPS_PROXY": "http://proxy:3128"}, {"AWS_ACCOUNT_ID": "123456789012"}, {"AWS_CA_BUNDLE": " "},
    {"AWS_SECRET_ACCESS_KEY": ""}, {"AWS_LAMBDA_FUNCTION_NAME": "f", "_X_AMZN_TRACE_ID": "Root=1-5e1b4151-5ac6c58f"},
])
def test_settings_that_change_botocores_client_keep_it(aws_env, monkeypatch, setting):
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    assert lean_client(REGION, "http://127.0.0.1:1", full_client=lambda: None) is None


def test_regions_and_config_files_the_lean_client_does_not_know_keep_botocore(aws_env, tmp_path, monkeypatch):
    full = {"full_client": lambda: None}
    assert isinstance(lean_client("eu-west-1", None, **full), LeanDynamoDB)
    assert lean_client("eu-west-1", None, **full).url == "https://dynamodb.eu-west-1.amazonaws.com/"
    for region in ("cn-north-1", "us-gov-west-1", "us-isob-east-1", None, "not a region"):
        assert lean_client(region, None, **full) is None
    config = tmp_path / "aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    config.write_text("[default]\nregion = eu-west-1\noutput = json\nca_bundle = /etc/ssl/certs/ca.pem\n")
    assert isinstance(lean_client(REGION, None, **full), LeanDynamoDB)
    for extra in ("endpoint_url = http://x:1", "use_dualstack_endpoint = true", "services = local"):
        config.write_text(f"[default]\nregion = eu-west-1\n{extra}\n")
        assert lean_client(REGION, None, **full) is None


def test_tls_is_verified_with_the_ca_bundle_botocore_would_use(aws_env, tmp_path, monkeypatch):
    from logsvc.store.dynamodb import make_client

    config = tmp_path / "aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    verified = []
    for step in ("default CAs", "REQUESTS_CA_BUNDLE", "profile ca_bundle", "AWS_CA_BUNDLE"):
        if step == "REQUESTS_CA_BUNDLE":
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/requests/ca.pem")
        elif step == "profile ca_bundle":
            config.write_text("[default]\nca_bundle = /profile/ca.pem\n")
        elif step == "AWS_CA_BUNDLE":
            monkeypatch.setenv("AWS_CA_BUNDLE", "/aws/ca.pem")
        lean = lean_client("eu-west-1", None, full_client=lambda: None)
        boto = make_client("eu-west-1")
        # (private attributes: botocore offers no public way to ask what a client verifies with)
        assert lean._http._verify == boto._endpoint.http_session._verify, step
        verified.append(lean._http._verify)
    assert verified == [True, "/requests/ca.pem", "/profile/ca.pem", "/aws/ca.pem"]


def test_the_cli_uses_the_lean_client_only_without_a_named_profile(aws_env, monkeypatch, tmp_path, moto_endpoint):  # noqa: F811
    from logsvc.aws import dynamodb_client

    flags = {"target": "dynamodb", "table": "logs", "endpoint_url": moto_endpoint, "region": REGION}
    assert isinstance(dynamodb_client(resolve(flags)), LeanDynamoDB)
    config = tmp_path / "aws-config"
    config.write_text("[profile work]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    named = dynamodb_client(resolve({**flags, "aws_profile": "work"}))
    assert not isinstance(named, LeanDynamoDB) and named.meta.endpoint_url == moto_endpoint


def test_other_operations_go_to_botocores_client(lean, moto_endpoint):  # noqa: F811
    table = f"logs-{uuid.uuid4().hex[:8]}"
    assert create_table(lean, table)  # create_table, its waiter, TTL: botocore's; the settings item: lean
    assert not create_table(lean, table)  # ResourceInUseException through lean.exceptions
    assert lean.describe_table(TableName=table)["Table"]["TableName"] == table
    assert lean.meta.endpoint_url == moto_endpoint
    assert lean.get_item(TableName=table, Key={"LogID": {"S": "__logsvc_settings__"}})["Item"]["Shards"] == {"N": "1"}
    assert delete_table(lean, table)


def test_send_and_recent_on_dynamodb_skip_botocores_client(aws_env, monkeypatch, moto_endpoint, make_table):  # noqa: F811
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "LOGSVC_TARGET": "dynamodb",
           "LOGSVC_TABLE": make_table(), "LOGSVC_ENDPOINT_URL": moto_endpoint, "AWS_REGION": REGION}
    for args in (["send", "x"], ["recent", "-o", "jsonl"]):
        loaded = imported_modules(args, env)
        assert "logsvc.store.dynamodb.lean" in loaded and "botocore.auth" in loaded
        client_machinery = {"botocore.session", "botocore.client", "botocore.waiter", "botocore.loaders",
                            "botocore.regions", "botocore.docs", "botocore.serialize"}
        assert not loaded & client_machinery, (args, sorted(loaded & client_machinery))
