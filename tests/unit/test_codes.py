"""Verification codes as pure logic: alphabet, generation, normalisation, hashing and the policy."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailroom.domain.codes import (
    ALPHABET,
    CODE_LENGTH,
    CodeMalformed,
    CodePolicy,
    CodeRecord,
    LockedOut,
    code_digest,
    code_matches,
    derive_key,
    generate_code,
    normalize_code,
)
from mailroom.domain.errors import CodeExhausted, CodeExpired, CodeMismatch, CooldownActive

KEY = derive_key("unit-test-secret-" + "x" * 20, "codes")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = CodePolicy(ttl=600, max_attempts=5, resend_cooldown=60)


def at(seconds: float) -> datetime:
    """The moment ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def issued(code: str = "ABC234", record: CodeRecord | None = None, when: float = 0,
           email: str = "new@example.com") -> CodeRecord:
    """A record holding ``code`` for user 7, issued at ``when``."""
    digest = code_digest(KEY, "email_change", 7, email, code)
    return POLICY.issue(record, digest, email, at(when))


def attempt(record: CodeRecord, code: str, when: float) -> tuple[CodeRecord, str | Exception]:
    """Redeem ``code`` at ``when``: the new record and the address or the error."""
    outcome = POLICY.redeem(record, lambda r: code_matches(KEY, "email_change", 7, r, code), at(when))
    try:
        return outcome.record, outcome.result()
    except Exception as error:
        return outcome.record, error


# --- alphabet and generation -------------------------------------------------------------------


def test_alphabet_has_no_look_alikes_and_no_repeats() -> None:
    assert not set("0O1IL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 31
    assert ALPHABET.upper() == ALPHABET


def test_generation_draws_each_character_from_the_given_source() -> None:
    calls: list[str] = []

    def choose(alphabet: str) -> str:
        calls.append(alphabet)
        return alphabet[len(calls) % len(alphabet)]

    assert generate_code(choose) == "".join(ALPHABET[i] for i in range(1, 7))
    assert calls == [ALPHABET] * CODE_LENGTH


def test_generated_codes_use_only_the_alphabet_and_vary() -> None:
    codes = {generate_code(secrets.choice) for _ in range(200)}
    assert all(len(code) == CODE_LENGTH and set(code) <= set(ALPHABET) for code in codes)
    assert len(codes) > 190


# --- normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["abc234", " ABC 234 ", "a b c 2 3 4", "aBc234\t", "ABC\u00a0234"])
def test_typed_codes_ignore_case_and_spaces(typed: str) -> None:
    assert normalize_code(typed) == "ABC234"


@pytest.mark.parametrize("typed", ["", "ABC23", "ABC2345", "ABC10O", "ABC-234", "ÄBC234", "ABCIL2"])
def test_malformed_codes_are_refused_before_any_attempt(typed: str) -> None:
    with pytest.raises(CodeMalformed, match="6-character"):
        normalize_code(typed)


@given(st.text(alphabet=ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH),
       st.lists(st.booleans(), min_size=CODE_LENGTH, max_size=CODE_LENGTH),
       st.lists(st.sampled_from(["", " ", "  "]), min_size=CODE_LENGTH + 1, max_size=CODE_LENGTH + 1))
def test_any_spacing_and_case_of_a_code_normalises_to_it(code: str, lower: list[bool],
                                                          gaps: list[str]) -> None:
    typed = gaps[0] + "".join((c.lower() if low else c) + gap
                              for c, low, gap in zip(code, lower, gaps[1:], strict=True))
    assert normalize_code(typed) == code


# --- hashing -----------------------------------------------------------------------------------


def test_the_digest_is_keyed_and_bound_to_purpose_user_and_address() -> None:
    base = code_digest(KEY, "email_change", 7, "new@example.com", "ABC234")
    assert len(base) == 64
    assert "ABC234" not in base.upper()
    others = {
        code_digest(derive_key("another-secret-" + "y" * 20, "codes"), "email_change", 7,
                    "new@example.com", "ABC234"),
        code_digest(KEY, "confirm_email", 7, "new@example.com", "ABC234"),
        code_digest(KEY, "email_change", 8, "new@example.com", "ABC234"),
        code_digest(KEY, "email_change", 7, "other@example.com", "ABC234"),
        code_digest(KEY, "email_change", 7, "new@example.com", "ABC235"),
    }
    assert base not in others
    assert len(others) == 5
    assert code_digest(KEY, "email_change", 7, "New@Example.COM", "ABC234") == base


def test_field_boundaries_cannot_be_shifted() -> None:
    assert code_digest(KEY, "a", 12, "x@example.com", "ABC234") != code_digest(
        KEY, "a1", 2, "x@example.com", "ABC234")


# --- the policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ttl", "expected"), [(1, 60), (59, 60), (60, 60), (600, 600)])
def test_lifetime_never_goes_below_the_floor(ttl: int, expected: int) -> None:
    assert CodePolicy.from_settings(ttl, 5, 60).ttl == expected


def test_the_right_code_works_once_case_insensitively() -> None:
    record, result = attempt(issued(), normalize_code("abc 234"), 10)
    assert result == "new@example.com"
    assert record.code_hash is None
    assert record.email is None
    _, again = attempt(record, "ABC234", 11)
    assert isinstance(again, CodeExpired)


def test_a_code_expires_after_its_lifetime() -> None:
    _, result = attempt(issued(), "ABC234", 599)
    assert result == "new@example.com"
    _, late = attempt(issued(), "ABC234", 600)
    assert isinstance(late, CodeExpired)


def test_wrong_tries_count_down_then_the_code_is_void_even_when_right() -> None:
    record = issued()
    for left in (4, 3, 2, 1, 0):
        record, result = attempt(record, "ZZZ234", 5)
        assert isinstance(result, CodeMismatch)
        assert result.attempts_left == left
    _, right = attempt(record, "ABC234", 6)
    assert isinstance(right, CodeExhausted)


def test_resend_waits_for_the_cooldown() -> None:
    record = issued()
    with pytest.raises(CooldownActive) as waiting:
        issued("DEF234", record, when=59.5)
    assert waiting.value.retry_after == 1
    assert issued("DEF234", record, when=60).resend_at == at(120)


def test_a_new_code_keeps_the_failure_count() -> None:
    record = issued()
    for _ in range(3):
        record, _ = attempt(record, "ZZZ234", 10)
    record = issued("DEF234", record, when=60)
    record, first = attempt(record, "ZZZ234", 61)
    assert isinstance(first, CodeMismatch)
    assert first.attempts_left == 1
    record, _ = attempt(record, "ZZZ234", 62)
    _, right = attempt(record, "DEF234", 63)
    assert isinstance(right, CodeExhausted)


def test_after_exhaustion_no_new_code_until_the_failures_are_forgotten() -> None:
    record = issued()
    for second in range(5):
        record, _ = attempt(record, "ZZZ234", 100 + second)
    with pytest.raises(LockedOut) as locked:
        issued("DEF234", record, when=200)
    assert locked.value.retry_after == 704 - 200
    fresh = issued("DEF234", record, when=704)
    assert fresh.failures == 0
    _, result = attempt(fresh, "DEF234", 705)
    assert result == "new@example.com"


def test_success_forgets_the_failures_but_keeps_the_cooldown() -> None:
    record, _ = attempt(issued(), "ZZZ234", 1)
    record, result = attempt(record, "ABC234", 2)
    assert result == "new@example.com"
    assert record.failures == 0
    with pytest.raises(CooldownActive):
        issued("DEF234", record, when=30)


def test_nothing_to_redeem_is_expired_not_a_crash() -> None:
    _, result = attempt(CodeRecord(), "ABC234", 0)
    assert isinstance(result, CodeExpired)
    outcome = POLICY.redeem(None, lambda r: True, T0)
    with pytest.raises(CodeExpired):
        outcome.result()


def test_the_record_lifetime_is_bounded_by_the_code_lifetime() -> None:
    record = issued()
    assert record.lifetime_ms(T0) == 600_000
    record, _ = attempt(record, "ZZZ234", 599)
    assert record.lifetime_ms(at(599)) == 600_000
    assert CodeRecord().lifetime_ms(T0) == 0

