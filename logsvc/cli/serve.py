"""`logsvc serve`: the Lambda handlers over HTTP on loopback, as Function URLs would serve them."""

import sys
from typing import Annotated, Optional

import typer

from logsvc.cli import SERVICE, app
from logsvc.cli.options import StoreOpt, Target, TargetOptions
from logsvc.errors import StoreError, UsageError


@app.command(rich_help_panel=SERVICE)
def serve(
    host: Annotated[Optional[str], typer.Option("--host", help="Interface to listen on (default 127.0.0.1; others get a warning).", show_default=False)] = None,
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port; 0 picks a free one.")] = 8321,
    # Not the shared target options: serve serves the local store or a table, never a profile's target.
    table: Annotated[Optional[str], typer.Option("--table", help="Serve a DynamoDB table instead of the local store.", show_default=False)] = None,
    endpoint_url: Annotated[Optional[str], typer.Option("--endpoint-url", help="DynamoDB endpoint (a local DynamoDB-compatible server).", show_default=False)] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="AWS region of the table.", show_default=False)] = None,
    auth: Annotated[str, typer.Option("--auth", help="none, or iam: require SigV4 signatures by your AWS credentials.")] = "none",
    store: StoreOpt = None,
) -> None:
    """Run the ingest and read Lambda handlers over HTTP on loopback, as Function URLs would."""
    from logsvc import serve as local_server
    from logsvc.output import notice
    from logsvc.targets import open_store

    if auth not in ("none", "iam"):
        raise UsageError(f"--auth must be none or iam, not {auth!r}")
    if host is None:
        host = "127.0.0.1"
    elif not local_server.is_loopback(host):
        notice(f"warning: serving on {host}, reachable from other machines"
               + (" without authentication" if auth == "none" else ""))
    if table:
        backend = _checked_table(table, endpoint_url, region)
    else:
        backend = open_store(TargetOptions(target=Target.local, store=store).settings())
    verifier = None
    if auth == "iam":
        from logsvc.sigv4 import SignatureError, SigV4Verifier, default_credentials

        try:
            verifier = SigV4Verifier(default_credentials())
        except SignatureError as exc:  # no credentials: exit 4, as on every other AWS path
            raise StoreError(str(exc), hint="serve --auth iam checks signatures against your own AWS credentials") from None

    def announce(ingest_url: str, read_url: str) -> None:
        # The first two are the original service's names (for curl); the rest point the CLI here.
        lines = {"INGEST_URL": ingest_url, "READ_URL": read_url, "LOGSVC_TARGET": "url",
                 "LOGSVC_INGEST_URL": ingest_url, "LOGSVC_READ_URL": read_url, "LOGSVC_AUTH": auth}
        sys.stdout.write("".join(f"export {name}={value}\n" for name, value in lines.items()))
        sys.stdout.flush()
        sys.stderr.write("serving; Ctrl-C to stop\n")

    try:
        local_server.run(backend, host=host, port=port, auth=verifier, on_ready=announce)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         hint="pick another --port, or 0 for any free one") from None
    finally:
        backend.close()


def _checked_table(table: str, endpoint_url: str | None, region: str | None):
    """The DynamoDB store for `table`, read once now: a missing or forbidden table stops serve here.

    The handlers get the store itself, not the CLI's translated one, so that a table that cannot
    be used answers 500 "misconfigured" rather than 503 "retry".
    """
    from logsvc.aws import dynamodb_client, translate
    from logsvc.config import resolve
    from logsvc.store.dynamodb import DynamoDBStore

    settings = resolve({"target": "dynamodb", "table": table, "endpoint_url": endpoint_url, "region": region})
    backend = DynamoDBStore(table, client=dynamodb_client(settings),
                            shards=int(settings["shards"]) if settings["shards"] else None)
    try:
        with translate(table):
            backend.check()
    except BaseException:
        backend.close()
        raise
    return backend
