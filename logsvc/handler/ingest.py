"""POST: store one entry (a JSON object) or a batch (a JSON array of entries).

Responses (all JSON):

- 200 one entry: ``{"message": "Log entry created", "id", "dateTime", "severity"}`` (the original
  service's shape; ``"replayed": true`` is added when the id was already stored identically);
- 200 batch: ``{"message": "Log entries created", "count", "ids", "replayed"}``, ``ids[i]`` being
  the id of entry i and ``replayed`` the ids that were already stored identically;
- 400 invalid: ``{"errors": [sentences], "details": [{"index", "errors"}]}``; nothing is stored
  (a key repeated within one JSON object is invalid: parsers disagree on which one counts);
- 405 not POST, 409 an id stored with different content, or twice in the batch with different
  content (``"ids"``; the same entry twice is stored once), 413 too large, 415 a form or binary
  content type, 503 store busy (``Retry-After``; ``"stored"``, ``"pending"``), 500 the store
  cannot be used until someone fixes it (no ``Retry-After``), 507 the local store's disk is full.
"""

from __future__ import annotations

import json

from logsvc.entry import MAX_BATCH_ENTRIES, DuplicateKeyError, EntryError, normalise, unique_keys
from logsvc.handler import common
from logsvc.store import ConflictError
from logsvc.times import now_utc

# Content types that cannot be a JSON body; anything else (missing, JSON, text) is read as JSON.
_REJECTED_PREFIXES = ("multipart/", "image/", "audio/", "video/", "font/", "model/")
_REJECTED_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "application/xml", "text/xml", "text/html", "application/pdf", "application/zip"}
)
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def handler(event: dict, context: object) -> dict:
    """The Lambda entry point."""
    return common.run(event, handle)


def handle(event: dict, store) -> dict:
    """Answer one Function URL event using `store` (any store of `logsvc.store`)."""
    try:
        request = common.parse_event(event)
        if request.method != "POST":
            return common.method_not_allowed("POST")
        _check_content_type(request.headers.get("content-type", ""))  # (any default but a rejected type: equivalent)
        payload = _read_json(request.body)
        if isinstance(payload, list):
            return _store_batch(event, payload, store)
        return _store_one(event, payload, store)
    except common.HttpError as exc:
        return exc.response()


def _store_one(event: dict, raw: object, store) -> dict:
    try:
        # (now=None and lenient_severity=None or left out: equivalent, normalise's defaults)
        entry = normalise(raw, now=now_utc(), lenient_severity=False)
    except EntryError as exc:
        raise common.HttpError(
            413 if exc.too_large else 400, exc.problems, details=[{"index": 0, "errors": exc.problems}]
        ) from None
    result = _put(event, [entry], store)
    if isinstance(result, dict):
        return result
    body = {"message": "Log entry created", "id": entry["id"], "dateTime": entry["dateTime"], "severity": entry["severity"]}
    if result.replayed:
        body["replayed"] = True
    return common.json_response(200, body)


def _store_batch(event: dict, raws: list, store) -> dict:
    if not raws:
        raise common.HttpError(400, ["the batch is empty: send at least one entry"])
    if len(raws) > MAX_BATCH_ENTRIES:
        raise common.HttpError(413, [f"the batch has {len(raws)} entries; the limit is {MAX_BATCH_ENTRIES}"])
    now = now_utc()  # one instant for the whole batch: entries without dateTime sort in order
    entries, details, too_large = [], [], False
    for index, raw in enumerate(raws):
        try:
            entries.append(normalise(raw, now=now, lenient_severity=False))  # (lenient None or left out: equivalent)
        except EntryError as exc:
            details.append({"index": index, "errors": exc.problems})
            too_large = too_large or exc.too_large
    if details:
        sentences = [f"entry {item['index']}: {problem}" for item in details for problem in item["errors"]]
        raise common.HttpError(413 if too_large else 400, sentences, details=details)
    result = _put(event, entries, store)
    if isinstance(result, dict):
        return result
    ids = [entry["id"] for entry in entries]
    return common.json_response(
        200, {"message": "Log entries created", "count": len(ids), "ids": ids, "replayed": result.replayed}
    )


def _put(event: dict, entries: list[dict], store):
    """The store's PutResult, or the error response for a conflict or an unavailable store."""
    try:
        return store.put(entries)
    except ConflictError as exc:
        return common.json_response(
            409,
            {"errors": [f"id already stored with different content: {', '.join(exc.ids)}"], "ids": exc.ids},
        )
    except common.UNAVAILABLE as exc:
        return common.unavailable_response(event, exc)


def _check_content_type(value: str) -> None:
    media_type, _, params = value.partition(";")
    media_type = media_type.strip().lower()
    if media_type in _REJECTED_TYPES or media_type.startswith(_REJECTED_PREFIXES):
        raise common.HttpError(
            415, [f"content type {media_type!r} is not accepted: send JSON with Content-Type: application/json"]
        )
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        charset = charset.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset and charset not in _UTF8_CHARSETS:
            raise common.HttpError(415, [f"charset {charset!r} is not accepted: send UTF-8"])


def _read_json(body: bytes | None) -> object:
    if body is None or not body.strip():
        raise common.HttpError(
            400, ["the request body is empty: send one entry as a JSON object, or a JSON array of entries"]
        )
    if len(body) > common.MAX_BODY_BYTES:
        raise common.HttpError(
            413, [f"the request body is {len(body)} bytes; the limit is {common.MAX_BODY_BYTES} bytes"]
        )
    try:
        text = body.decode("utf-8-sig")  # ("UTF-8-SIG": equivalent)
    except UnicodeDecodeError:
        raise common.HttpError(400, ["the request body is not valid UTF-8"]) from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=unique_keys)
    except DuplicateKeyError as exc:
        raise common.HttpError(400, [f"the request body is ambiguous: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise common.HttpError(400, [f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    except RecursionError:
        raise common.HttpError(400, ["the request body is nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit, or NaN
        raise common.HttpError(400, [f"the request body is not acceptable JSON: {str(exc)[:120]}"]) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
