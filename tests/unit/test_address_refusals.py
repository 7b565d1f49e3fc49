"""Every refusal of an address is one of our own sentences (translated like any other), never the
address library's English: each common slip has its own, anything else a plain one."""

from __future__ import annotations

import pytest

from mailroom.domain import addresses
from mailroom.domain.addresses import normalize_email
from mailroom.domain.errors import AddressInvalid

OURS = {addresses.NO_SPACES, addresses.FULL_WIDTH_AT, addresses.NO_AT, addresses.ONE_AT,
        addresses.NOTHING_BEFORE_AT, addresses.NOTHING_AFTER_AT, addresses.BAD_CHARACTERS,
        addresses.LOCAL_TOO_LONG, addresses.DOTS, addresses.BAD_DOMAIN, addresses.INVALID}


@pytest.mark.parametrize(("raw", "sentence"), [
    ("alice smith@example.com", addresses.NO_SPACES),
    ("alice\u3000@example.com", addresses.NO_SPACES),
    ("alice＠example.com", addresses.FULL_WIDTH_AT),
    ("alice.example.com", addresses.NO_AT),
    ("alice@bob@example.com", addresses.ONE_AT),
    ("@example.com", addresses.NOTHING_BEFORE_AT),
    ("alice@", addresses.NOTHING_AFTER_AT),
    ("ali(ce)@example.com", addresses.BAD_CHARACTERS),
    (".alice@example.com", addresses.DOTS),
    ("alice..smith@example.com", addresses.DOTS),
    ("alice.@example.com", addresses.DOTS),
    ("alice@-example.com", addresses.DOTS),
    ("alice@example", addresses.BAD_DOMAIN),
    ("alice@exa_mple.com", addresses.BAD_DOMAIN),
    ("alice@" + "b" * 70 + ".com", addresses.BAD_DOMAIN),
])
def test_each_slip_gets_its_own_sentence(raw: str, sentence: str) -> None:
    with pytest.raises(AddressInvalid) as caught:
        normalize_email(raw)
    assert caught.value.message == sentence


def test_the_characters_refused_are_named() -> None:
    with pytest.raises(AddressInvalid) as caught:
        normalize_email("a,b(c@example.com")
    assert caught.value.params == {"characters": "( ,"}


@pytest.mark.parametrize("raw", ["a@[1.2.3.4]", "a@b.com.", "\"quoted\"@example.com", "a@xn--zz.com",
                                 "a@example.invalid", "a@localhost", "-@-.-"])
def test_no_refusal_carries_the_librarys_words(raw: str) -> None:
    with pytest.raises(AddressInvalid) as caught:
        normalize_email(raw)
    assert caught.value.message in OURS
    assert "@-sign" not in str(caught.value)
