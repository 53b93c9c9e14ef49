"""Count the DynamoDB requests and items an operation costs, through botocore's event hooks.

``with Accounting(client) as counts: ...`` registers ``before-call`` / ``after-call`` handlers on
the client's ``meta.events`` and records, per operation name, how many requests were sent, how
many items each read examined (``ScannedCount`` of a Query/Scan, items returned by a GetItem or
BatchGetItem) and how many items each write wrote, plus the request parameters of every call.
The handlers are unregistered on exit. Used against a moto server on loopback: real requests,
counted as the service would bill them (one request, one item read or written at a time).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Call:
    operation: str
    params: dict
    examined: int = 0  # items the service read to answer (before any filter)
    returned: int = 0  # items it sent back
    written: int = 0


@dataclass
class Accounting:
    client: object
    calls: list[Call] = field(default_factory=list)
    # Calls sent and not yet answered, by their request context (the one object botocore hands
    # both hooks of a call): a multi-shard read sends its first Queries together, from threads.
    _open: dict = field(default_factory=dict)

    def __enter__(self) -> Accounting:
        events = self.client.meta.events
        events.register("before-call.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        return self

    def __exit__(self, *exc) -> None:
        events = self.client.meta.events
        events.unregister("before-call.dynamodb", self._before)
        events.unregister("after-call.dynamodb", self._after)

    # -- what the tests read ----------------------------------------------------------------------

    @property
    def requests(self) -> Counter:
        return Counter(call.operation for call in self.calls)

    def examined(self, operation: str | None = None) -> int:
        return sum(call.examined for call in self.calls if operation in (None, call.operation))

    def written(self) -> int:
        return sum(call.written for call in self.calls)

    def of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    def reset(self) -> None:
        self.calls.clear()

    # -- the hooks --------------------------------------------------------------------------------

    def _before(self, model, params, context, **_):
        body = params.get("body") or b"{}"
        call = Call(model.name, json.loads(body))
        self._open[id(context)] = call
        self.calls.append(call)  # list.append: safe from the read's threads

    def _after(self, model, parsed, context, **_):
        call = self._open.pop(id(context))
        assert call.operation == model.name
        if model.name in ("Query", "Scan"):
            call.examined = parsed.get("ScannedCount", 0)
            call.returned = parsed.get("Count", 0)
        elif model.name == "GetItem":
            call.examined = call.returned = int("Item" in parsed)
        elif model.name == "BatchGetItem":
            call.examined = call.returned = sum(len(items) for items in parsed.get("Responses", {}).values())
        elif model.name == "PutItem":
            call.written = int("Error" not in parsed)
        elif model.name == "BatchWriteItem":
            sent = sum(len(writes) for writes in call.params.get("RequestItems", {}).values())
            unprocessed = sum(len(writes) for writes in parsed.get("UnprocessedItems", {}).values())
            call.written = sent - unprocessed
