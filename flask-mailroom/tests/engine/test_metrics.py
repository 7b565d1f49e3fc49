"""A worker's Prometheus metrics and health endpoints, scraped over HTTP from a worker delivering to a
real aiosmtpd server, parsed with the client library's own parser."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from flask_mailroom.engine.metrics import Telemetry
from flask_mailroom.engine.runtime import handled
from flask_mailroom.engine.worker import Worker
from flask_mailroom.queue import OutboxMessage

from support.apps import base_config, minimal_app
from support.outbox import flask_command, process_env, queue_many, start_process, wait_for
from support.services import free_port
from support.smtp import SMTPServer

Rows = Callable[[], list[OutboxMessage]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(port: int, path: str) -> tuple[int, str]:
    """GET a path of the worker's endpoint: (status, body), 4xx and 5xx included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics``, by name and labels, as the client library parses them."""
    status, text = get(port, "/metrics")
    assert status == 200
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value."""
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def running(app: Flask) -> Iterator[Callable[[int], Worker]]:
    """``running(port)`` starts a worker serving metrics on ``port``; stopped at the end of the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(port: int) -> Worker:
        worker = Worker(app, metrics_port=port)
        thread = threading.Thread(target=worker.run_forever, args=(0.02,), daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop.set()
        thread.join(30)
        assert not thread.is_alive()


def test_the_metrics_count_what_was_sent_deferred_and_failed(
        app: Flask, smtp: SMTPServer, rows: Rows, running: Callable[[int], Worker]) -> None:
    app.config.update(MAIL_CONNECTIONS=2)
    queue_many(app, 5, prefix="reader")
    queue_many(app, 1, prefix="gone")
    queue_many(app, 1, prefix="busy")
    smtp.recorder.rcpt_replies.update({"gone0@example.com": "550 5.1.1 no such user",
                                       "busy0@example.com": "450 4.2.1 mailbox busy"})
    port = free_port()
    worker = running(port)
    assert wait_for(lambda: handled(worker.runtime.counts()) == 7)
    # The outcomes are written on the writer's thread: the queue's figures follow them.
    assert wait_for(lambda: sorted(r.status for r in rows()) == ["failed", "queued"] + ["sent"] * 5)
    samples = scrape(port)
    assert len(smtp.messages) == 5
    assert value(samples, "mailroom_sent_total") == 5
    assert value(samples, "mailroom_failed_total") == 1
    assert value(samples, "mailroom_deferred_total") == 1
    assert value(samples, "mailroom_throttled_total") == 0
    assert value(samples, "mailroom_send_seconds_count") == 7, "every handoff is timed, failures too"
    assert value(samples, "mailroom_claim_seconds_count") >= 1
    assert value(samples, "mailroom_send_seconds_bucket", le="+Inf") == 7
    server = f"127.0.0.1:{smtp.port}"
    assert value(samples, "mailroom_breaker_state", server=server, state="closed") == 1
    assert value(samples, "mailroom_breaker_state", server=server, state="open") == 0
    # The deferred message waits for its backoff (the clock is frozen): queued, not due.
    assert value(samples, "mailroom_queue_depth", lane="transactional") == 1
    assert value(samples, "mailroom_queue_due", lane="transactional") == 0
    assert value(samples, "mailroom_queue_depth", lane="bulk") == 0
    assert value(samples, "mailroom_connections") == 2
    assert value(samples, "mailroom_ready") == 1
    assert value(samples, "process_cpu_seconds_total") > 0


def test_the_health_endpoints_answer_in_json_and_the_port_closes_with_the_worker(
        app: Flask, smtp: SMTPServer, running: Callable[[int], Worker]) -> None:
    port = free_port()
    worker = running(port)
    assert wait_for(lambda: reachable(port) and get(port, "/healthz/ready")[0] == 200), (
        "ready after its first heartbeat")
    status, body = get(port, "/healthz/ready")
    assert json.loads(body) == {"status": "ok",
                                "checks": {"database": "ok", "mail_server": "ok", "heartbeat": "ok"}}
    assert get(port, "/healthz/live") == (200, json.dumps({"status": "ok", "checks": {"connections": "ok"}}))
    assert get(port, "/nothing-here")[0] == 404
    # The mail server cannot be reached: the breaker opens and the worker is no longer ready.
    worker.breaker.failed(worker.runtime.seconds(), random.Random(1))
    status, body = get(port, "/healthz/ready")
    assert status == 503
    assert json.loads(body)["checks"]["mail_server"] == "failing"
    assert value(scrape(port), "mailroom_ready") == 0
    assert get(port, "/healthz/live")[0] == 200, "alive all the same"
    worker.stop.set()
    assert wait_for(lambda: not reachable(port))


def reachable(port: int) -> bool:
    """Whether anything answers HTTP on the port."""
    try:
        get(port, "/healthz/live")
    except OSError:
        return False
    return True


def unreachable_database(db_backend: str, tmp_path: Path) -> str:
    """A database URL of the same kind that cannot be opened."""
    if db_backend == "sqlite":
        return f"sqlite:///{tmp_path}/missing-folder/mail.sqlite3"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mail"


def test_readiness_is_503_when_the_database_is_unreachable_and_says_nothing_more(
        db_backend: str, tmp_path: Path) -> None:
    url = unreachable_database(db_backend, tmp_path)
    app, _, _ = minimal_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    telemetry = Telemetry(Worker(app))
    port = telemetry.serve("127.0.0.1", 0)
    try:
        status, body = get(port, "/healthz/ready")
    finally:
        telemetry.close()
    assert status == 503
    assert json.loads(body)["checks"]["database"] == "failing"
    for secret in ("127.0.0.1", "sqlite", "postgres", "missing-folder"):
        assert secret not in body


def test_two_workers_in_one_process_each_count_their_own(
        app: Flask, smtp: SMTPServer, running: Callable[[int], Worker]) -> None:
    queue_many(app, 12, prefix="reader")
    ports = [free_port(), free_port()]
    workers = [running(port) for port in ports]
    assert wait_for(lambda: sum(handled(w.runtime.counts()) for w in workers) == 12)
    sent = [value(scrape(port), "mailroom_sent_total") for port in ports]
    assert sent == [w.runtime.counts()["sent"] for w in workers]
    assert sum(sent) == 12


@pytest.mark.parametrize("told_by", ["option", "setting"])
def test_the_worker_command_serves_metrics_on_the_port_it_is_told(
        app: Flask, smtp: SMTPServer, processes: list[Any], tmp_path: Path, told_by: str) -> None:
    queue_many(app, 3, prefix="reader")
    port = free_port()
    log = tmp_path / "worker.log"
    if told_by == "option":
        command, env = flask_command("mail", "worker", "--metrics-port", str(port)), process_env(app)
    else:
        command, env = flask_command("mail", "worker"), process_env(app, MAIL_METRICS_PORT=port)
    processes.append(start_process(command, env, log))
    assert wait_for(lambda: reachable(port) and value(scrape(port), "mailroom_sent_total") == 3, 60), (
        log.read_text())
    assert get(port, "/healthz/ready")[0] == 200
