"""The artifact bucket that holds the Lambda zips: found, or made private, encrypted and versioned."""

from __future__ import annotations

from logsvc.deploy.aws import client_error, translate
from logsvc.errors import LogsvcError, UsageError


def bucket_name(account: str, region: str) -> str:
    """The default bucket: one per account and region, named from both (S3 names are global)."""
    return f"logsvc-artifacts-{account}-{region}"


def ensure_bucket(s3, name: str, region: str, account: str, *, create: bool) -> bool:
    """Make sure bucket `name` exists in `account`; create it if `create`. True when it was created."""
    from botocore.exceptions import ClientError

    with translate("s3"):
        try:
            # ExpectedBucketOwner: a bucket of that name in another account answers 403, not ours.
            s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
            return False
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                if code in ("403", "AccessDenied"):
                    raise LogsvcError(f"bucket {name!r} belongs to another account or may not be read",
                                      hint="pass --bucket with a bucket of this account, or allow s3:ListBucket "
                                           "on it") from None
                raise client_error(exc, "s3") from None
        if not create:
            raise UsageError(f"bucket {name!r} does not exist", hint="create it, or leave out --bucket")
        _create_private_bucket(s3, name, region, account)
    return True


def _create_private_bucket(s3, name: str, region: str, account: str) -> None:
    request: dict = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 refuses its own name as a location constraint
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**request)
    s3.put_public_access_block(Bucket=name, ExpectedBucketOwner=account, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ExpectedBucketOwner=account, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_versioning(Bucket=name, ExpectedBucketOwner=account,
                             VersioningConfiguration={"Status": "Enabled"})


def upload(s3, bucket: str, key: str, data: bytes, account: str) -> bool:
    """Put the zip under its content-hash key unless it is there already. True when uploaded."""
    from botocore.exceptions import ClientError

    with translate("s3"):
        try:
            s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)
            return False
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchKey", "NotFound"):
                raise client_error(exc, "s3") from None
        s3.put_object(Bucket=bucket, Key=key, Body=data, ExpectedBucketOwner=account,
                      ContentType="application/zip")
    return True
