"""SPF and DMARC findings from TXT records (the resolver is passed in)."""

from __future__ import annotations

import pytest

from flask_mailroom.deliverability.doctor import DNSUnavailable, Report, check_dns

RECORDS = {"example.com": ["google-site-verification=x", "v=spf1 include:_spf.example.net ~all"],
           "_dmarc.example.com": ["v=DMARC1; p=quarantine"]}


def lines(resolve: object, sender: str = "noreply@example.com") -> list[str]:
    """What the DNS check says, line by line."""
    report = Report()
    check_dns(sender, resolve, report)  # type: ignore[arg-type]
    return [f.line() for f in report.findings]


def test_spf_and_dmarc_found() -> None:
    assert lines(lambda name: RECORDS.get(name, [])) == [
        "ok    SPF for example.com: v=spf1 include:_spf.example.net ~all",
        "ok    DMARC for example.com: v=DMARC1; p=quarantine"]


def test_missing_records_come_with_the_record_to_add() -> None:
    found = lines(lambda name: [], "noreply@bare.example")
    assert found[0].startswith("FIX   bare.example publishes no SPF record -> add a TXT record on "
                               "bare.example")
    assert found[1].startswith("FIX   bare.example publishes no DMARC record -> add a TXT record on "
                               "_dmarc.bare.example: v=DMARC1")


def test_unreachable_dns_is_said_and_not_a_failure() -> None:
    def unreachable(name: str) -> list[str]:
        raise DNSUnavailable(name)

    assert lines(unreachable) == ["ok    DNS is not reachable from here: SPF and DMARC of example.com "
                                  "not checked"]


def test_a_domain_dns_does_not_know_is_said_once() -> None:
    assert lines(lambda name: None, "me@nowhere.example") == [
        "FIX   DNS says nowhere.example does not exist (or this machine's DNS cannot see the internet) "
        "-> send from an address on a domain you control (MAIL_DEFAULT_SENDER)"]


@pytest.mark.parametrize("sender", ["", "no-at-sign"])
def test_no_domain_no_check(sender: str) -> None:
    assert lines(lambda name: [], sender) == []
