"""The CLI's targets with counting and export pages: what `stats`, `export` and `top` open.

`logsvc.stats.count` and `logsvc.export.page_after` serve the stores the handlers hold (SQLite,
DynamoDB) themselves, and any store that offers ``count_by_bucket``/``page_after``: these
wrappers add them to the CLI's url target (the read URL's modes, `logsvc.client_insight`) and
dynamodb target (AWS errors as messages with hints). Kept out of the core modules so that the
Lambda code, whose imports are traced into its zip, never reaches httpx or the CLI's AWS glue.
"""

from __future__ import annotations


def open_insight_store(settings):
    """`targets.open_store` for reading, with counting and export pages on every target."""
    from logsvc.targets import open_store

    store = open_store(settings, reading=True)
    kind = type(store).__name__
    if kind == "FunctionUrlStore":
        return _UrlInsight(store)
    if kind == "TranslatedStore":
        return _DynamoDBInsight(store)
    return store


class _Wrapper:
    def __init__(self, store) -> None:
        self._wrapped = store

    def recent(self, query):
        return self._wrapped.recent(query)

    def follow(self, cursor, query):
        return self._wrapped.follow(cursor, query)

    def close(self) -> None:
        self._wrapped.close()


class _UrlInsight(_Wrapper):
    def count_by_bucket(self, query, edges):
        from logsvc.client_insight import count_by_bucket

        return count_by_bucket(self._wrapped, query, edges)

    def page_after(self, query, after):
        from logsvc.client_insight import page_after

        return page_after(self._wrapped, query, after)


class _DynamoDBInsight(_Wrapper):
    """The dynamodb target: `aws.TranslatedStore` for reads, and the same translation here."""

    def count_by_bucket(self, query, edges):
        from logsvc.aws import translate
        from logsvc.store.dynamodb.insight import count_by_bucket

        inner = self._wrapped._store
        with translate(inner.table_name):
            return count_by_bucket(inner, query, edges)

    def page_after(self, query, after):
        from logsvc.aws import translate
        from logsvc.store.dynamodb.insight import page_after

        inner = self._wrapped._store
        with translate(inner.table_name):
            return page_after(inner, query, after)
