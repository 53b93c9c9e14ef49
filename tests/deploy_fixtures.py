"""Fixtures for the deploy tests: AWS (moto on loopback, with the CloudFormation shim) in the environment.

``aws`` points every botocore client of the test at the session's moto server through
AWS_ENDPOINT_URL, with fake credentials and a region, and yields a helper with clients and a
fresh stack name. Nothing here can reach real AWS: the endpoint is always loopback.
"""

from __future__ import annotations

import uuid

import botocore.session
import moto_cfn_shim
import pytest
from dynamo_fixtures import FAKE_CREDENTIALS, moto_endpoint  # noqa: F401 - the fixture is used by name

REGION = "eu-west-1"


class Aws:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.region = REGION
        self.stack = f"t{uuid.uuid4().hex[:10]}"
        self._session = botocore.session.Session()

    def client(self, service: str):
        return self._session.create_client(service, region_name=self.region, endpoint_url=self.endpoint,
                                           **FAKE_CREDENTIALS)


@pytest.fixture
def aws(moto_endpoint, monkeypatch):  # noqa: F811
    moto_cfn_shim.install()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_REGION", REGION)
    yield Aws(moto_endpoint)
    moto_cfn_shim.uninstall()
