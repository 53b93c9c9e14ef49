"""Lambda Function URL handlers (payload format 2.0): `ingest` (POST) and `read` (GET).

Each module offers ``handler(event, context)``, the Lambda entry point using the store configured
by environment variables, and ``handle(event, store) -> response``, which takes any store (a
local server passes its SQLite store). Stdlib only, plus boto3 imported lazily by the store.
"""
