"""``defer_many``'s COPY text: exactly the JSON ``json.dumps`` writes, and every value read back as
given, whatever characters it holds (on SQLite the rows go through INSERT: the same values)."""

from __future__ import annotations

import json
from email.utils import make_msgid

import pytest
from flask import Flask
from sqlalchemy import String, cast, select

from flask_mailroom import Mail
from flask_mailroom.compose import bulk_copy
from flask_mailroom.compose.deferred import Intent
from flask_mailroom.models.outbox import BULK
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import db

AWKWARD = ["plain", "tab\there", "line\nbreak\r\n", "back\\slash \\N", 'quote " and \\"', "中文 名字",
           "emoji 📨", "", "\\.", "\u2028 \x1c \x7f"]


@pytest.mark.parametrize("value", AWKWARD)
def test_json_object_is_what_json_dumps_writes(value: str) -> None:
    params = {"name": value, "n": 12, "neg": -3, value or "k": "v", "big": 10**20}
    assert bulk_copy.json_object(params) == json.dumps(params)
    assert bulk_copy.json_object({}) == json.dumps({})
    odd = {"flag": True, "none": None, "float": 1.5}  # not strings or integers: json.dumps itself
    assert bulk_copy.json_object(odd) == json.dumps(odd)


def test_message_ids_have_make_msgids_shape_and_are_distinct() -> None:
    ids = bulk_copy.message_ids(1000, "example.com")
    assert len(set(ids)) == 1000
    head, tail = make_msgid(domain="example.com").split(".", 2)[:2], ids[0].split(".", 2)[:2]
    assert head[1] == tail[1]
    assert abs(int(head[0][1:]) - int(tail[0][1:])) < 1000
    assert all(i.startswith("<") and i.endswith("@example.com>") for i in ids)


def test_every_value_is_stored_as_given(app: Flask, mail: Mail) -> None:
    intents = [Intent(f"reader{n}@example.com", {"name": value, "n": n},
                      None if n % 2 else f"key:{value}:{n}") for n, value in enumerate(AWKWARD)]
    with app.app_context():
        mail.defer_many("news", intents, kind=BULK, subject="Tab\there \\ 中文", sender="news@example.com",
                        announcement_id=7)
        db.session.commit()
        rows = db.session.execute(select(OutboxMessage, cast(OutboxMessage.meta, String).label("meta_text"))
                                  .order_by(OutboxMessage.id)).all()
        assert len(rows) == len(AWKWARD)
        for (row, meta_text), intent in zip(rows, intents, strict=True):
            assert row.recipients == [intent.to]
            assert row.address_key == intent.to.lower()
            assert row.dedupe_key == intent.dedupe_key
            assert row.raw == b""
            assert row.announcement_id == 7
            assert row.meta == {"deferred": "news", "date": row.meta["date"], "params": dict(intent.params)}
            assert row.subject == "Tab\there \\ 中文"
            assert row.status == "queued"
            assert row.attempts == 0
            if db.engine.dialect.name == "postgresql":
                assert meta_text == json.dumps(row.meta)  # the very text json.dumps writes
        assert len({row.message_id for row, _ in rows}) == len(AWKWARD)
        db.session.commit()
