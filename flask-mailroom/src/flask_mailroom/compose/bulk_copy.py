"""Deferred rows as PostgreSQL's COPY reads them, built as text with no per-row work that can be hoisted.

``defer_many`` queues thousands of rows that differ only in a few columns. Here the columns shared
by every row (kind, status, times, subject...) are formatted once per batch, the Message-IDs share
their time and process parts, and each row's JSON (recipients, meta) is written by hand with the
standard library's own string encoder, so the text is exactly what ``json.dumps`` would give.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

# COPY's text format: these characters must be written as escapes inside a value.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def message_ids(count: int, domain: str) -> list[str]:
    """``count`` new Message-IDs, each as ``email.utils.make_msgid(domain=domain)`` makes one (its
    time and process parts computed once, 64 random bits per ID)."""
    head = f"<{int(time.time() * 100)}.{os.getpid()}."
    tail = f"@{domain}>"
    bits = random.getrandbits
    return [f"{head}{bits(64)}{tail}" for _ in range(count)]


def json_object(values: Mapping[str, Any]) -> str:
    """``json.dumps(dict(values))``, faster for the flat objects of strings and integers rows carry."""
    parts = []
    for key, value in values.items():
        kind = type(value)
        if type(key) is not str or (kind is not str and kind is not int):
            return json.dumps(dict(values))
        parts.append(f"{encode_basestring_ascii(key)}: "
                     f"{encode_basestring_ascii(value) if kind is str else int.__repr__(value)}")
    return "{" + ", ".join(parts) + "}"


def copy_text(value: str) -> str:
    """A text value as COPY's text format reads it (backslash, tab and line ends escaped; most values
    have none, and are only scanned)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_value(value: object) -> str:
    """Any column value as COPY's text format reads it: NULL, booleans, bytes, times (the naive UTC
    the columns store), JSON, numbers and text."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, dict | list):
        return copy_text(json.dumps(value))
    return copy_text(str(value))


def shared_part(values: Mapping[str, object]) -> str:
    """The tab-separated COPY text of the columns every row of a batch shares, formatted once."""
    return "\t".join(copy_value(value) for value in values.values())


def meta_head(builder: str, stamp: int) -> str:
    """The start of every row's meta JSON in a batch, up to its parameters (as ``json.dumps`` writes
    ``{"deferred": builder, "date": stamp, "params": ...}``)."""
    return f'{{"deferred": {encode_basestring_ascii(builder)}, "date": {stamp}, "params": '


def copy_lines(rows: Iterable[tuple[str, str, str | None, Mapping[str, Any]]], head: str,
               shared: str) -> str:
    """The COPY text of the rows, one line each: message_id, recipients, address_key, dedupe_key and
    meta (``head`` then the row's parameters), then the ``shared`` columns."""
    text = copy_text
    return "".join([f"{text(message_id)}\t{text('[' + encode_basestring_ascii(to) + ']')}\t"
                    f"{text(to.lower())}\t{NULL if key is None else text(key)}\t"
                    f"{text(head + json_object(params) + '}')}\t{shared}\n"
                    for message_id, to, key, params in rows])


COPY_COLUMNS: Sequence[str] = ("message_id", "recipients", "address_key", "dedupe_key", "meta")
