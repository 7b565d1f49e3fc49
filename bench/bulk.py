"""Bulk at scale: an announcement to N subscribers fanned out and drained by two workers on PostgreSQL.

Run: ``.venv/bin/python bench/bulk.py [--subscribers 100000] [--smtp-latency 0] [--connections N]
[--workers 2] [--baseline-copies 2000] [--reset-gap 0.004] [--no-pipelining] [--no-drain] [--quick]``
(``--subscribers 1000000`` runs too; ``--quick`` is the size tests/integration/test_benchmarks.py
runs; ``--no-drain`` stops after the fan-out and the figures at full queue).

It migrates a fresh PostgreSQL database, adds the subscribers (and one unsubscribed user who will
forget a password), fans an announcement out to them (``announcements.send``) and measures:

- the fan-out rate, and the outbox bytes per copy (``pg_total_relation_size('outbox')``);
- with the queue full, in this process (no interpreter start-up): ``flask mail status`` (through
  Flask's CLI runner) and the admin dashboard's figures (``dashboard.overview_for``), median of 3;
- the drain by ``--workers`` real ``flask --app mailroom mail worker`` processes with
  ``--connections`` SMTP connections each (default 8 at latency 0, 32 when the server waits; one
  per worker reserved for account mail) into an aiosmtpd sink that runs in a process of its own and
  waits ``--smtp-latency`` seconds in DATA on each connection: the rate over the first and the last
  fifth of the copies, and the CPU time per copy (``/proc/<pid>/stat``, from the first copy's
  arrival to the last, and in the first and the last fifth: a last fifth slower than the first at
  the same CPU per copy is the machine, not the queue) of the workers, of the sink and of the
  PostgreSQL server's processes, and per fifth the machine's CPU time stolen by its hypervisor
  and left idle per copy (``/proc/stat``);
- once half the copies have arrived, a password reset is requested through the app's reset
  service: seconds from the request to the sink's 250;
- after the drain: the workers' CPU per password reset, less what the idle workers spend in the
  same time, twice: 300 resets requested at once (a worker may take them in batches), then 300
  requested one every ``--reset-gap`` seconds (default 4 ms: a site's pace, each reset most often
  claimed and sent alone); and the dead tuples left in ``outbox``
  (``pg_stat_user_tables.n_dead_tup``).

The sink is a provider as providers are: it offers PIPELINING (``--no-pipelining``: it does not),
and it parses ``<address>`` in MAIL and RCPT directly (aiosmtpd 1.4 defines a class on every such
command, a quarter of its CPU, which a provider's servers do not spend on this machine's cores).

Baseline in the same run, against the same sink: the loop Flask-Mail's documentation teaches
(``with mail.connect() as conn:``, a template rendered per copy, ``conn.send``) sending the same
announcement to ``--baseline-copies`` recipients over one connection (at most ten seconds' worth
when the sink waits): its copies/s and CPU per copy; the drain rate is divided by it.

The last line is ``fanout_rate=<copies/s> bytes_per_copy=<bytes> cpu_per_copy_ms=<ms>
drain_rate=<copies/s> last/first=<ratio> reset_s=<s> reset_cpu_ms=<ms> paced_reset_cpu_ms=<ms> status_ms=<ms>
dashboard_ms=<ms> dead_tuples=<n> drain/flask_mail=<ratio>``. Every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from common import scratch_database
from flask import Flask
from priority import (
    TARGET,
    account_email_request,
    cpu_seconds,
    dispose,
    environment,
    fan_out,
    free_port,
    make_app,
    migrate_and_fill,
    start_worker,
    stop_worker,
    wait_until,
)
from sqlalchemy import insert, text

HOST = "127.0.0.1"
CHUNK = 20_000
DRAIN_TIMEOUT = 3600.0
ARRIVAL_TIMEOUT = 60.0
BASELINE_SECONDS_WHEN_SLOW = 10.0
BASELINE_MARK = b"\nX-Bench-Baseline:"
BULK_MARK = b"\nList-Unsubscribe-Post:"
# Password resets whose cost to the workers is measured after the drain (20 with --quick), and
# how long the idle workers are watched before.
RESETS = 300
IDLE_SECONDS = 3.0
RESET_GAP = 0.004
TEXT_TEMPLATE = "Hello {{ user.name }},\n\n{{ body }}\n\nUnsubscribe: {{ unsubscribe }}\n"
HTML_TEMPLATE = ("<p>Hello {{ user.name }},</p>{{ html }}"
                 '<p><a href="{{ unsubscribe }}">Unsubscribe</a></p>')


# --- the sink (``bulk.py --sink PORT LATENCY``): a process of its own, answering questions on stdin ---


@dataclass
class Sink:
    """aiosmtpd handler: waits ``latency`` in DATA, then notes when each bulk copy arrived, counts the
    baseline's copies and timestamps account emails per recipient."""

    latency: float
    pipelining: bool = True
    bulk: array[float] = field(default_factory=lambda: array("d"))
    baseline: int = 0
    account: dict[str, list[float]] = field(default_factory=dict)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        """Offer PIPELINING as providers do (unless ``--no-pipelining``)."""
        session.host_name = hostname
        offered = ["250-PIPELINING"] if self.pipelining else []
        return [*responses[:-1], *offered, responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Wait as a provider does, then record the 250."""
        if self.latency:
            await asyncio.sleep(self.latency)
        moment = time.monotonic()  # system-wide: comparable with the bench process's clock
        content = bytes(envelope.content)
        if BASELINE_MARK in content:
            self.baseline += 1
        elif BULK_MARK in content:
            self.bulk.append(moment)
        else:
            for rcpt in envelope.rcpt_tos:
                self.account.setdefault(str(rcpt).lower(), []).append(moment)
        return "250 Message accepted"

    def answer(self, line: str) -> str:
        """``count``, ``at K`` (when bulk copy K arrived, from 0), ``baseline``, ``account ADDRESS``."""
        command, *args = line.split()
        if command == "count":
            return str(len(self.bulk))
        if command == "at":
            return repr(self.bulk[int(args[0])])
        if command == "baseline":
            return str(self.baseline)
        return json.dumps(self.account.get(args[0], []))


def plain_address(arg: str) -> tuple[str | None, str | None] | None:
    """``<address>`` and what follows it, as aiosmtpd's ``_getaddr`` returns them; None when the
    argument is not that simple."""
    text = arg.lstrip()
    end = text.find(">")
    if not text.startswith("<") or end < 0:
        return None
    return text[1:end], text[end + 1:]


def provider_controller(sink: Sink, port: int) -> Any:
    """aiosmtpd's Controller, its protocol parsing ``<address>`` directly: aiosmtpd 1.4 defines a
    ``typing.Protocol`` class on every MAIL and RCPT, a quarter of the sink's CPU, which a
    provider's own servers do not spend on this machine's cores."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class ProviderSMTP(SMTP):
        def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
            return plain_address(arg) or super()._getaddr(arg)

    class ProviderController(Controller):
        def factory(self) -> SMTP:
            return ProviderSMTP(self.handler, **self.SMTP_kwargs)

    return ProviderController(sink, hostname=HOST, port=port)


def serve_sink(port: int, latency: float, pipelining: bool) -> None:
    """Serve until stdin closes, answering one line per question."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sink = Sink(latency, pipelining)
    controller = provider_controller(sink, port)
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        print(sink.answer(line), flush=True)
    controller.stop()


class SinkProcess:
    """The sink's process, asked over a pipe."""

    def __init__(self, latency: float, pipelining: bool = True) -> None:
        """Start it on a free port and wait until it listens."""
        self.port = free_port()
        command = [sys.executable, __file__, "--sink", str(self.port), str(latency), str(int(pipelining))]
        self.process: subprocess.Popen[Any] = subprocess.Popen(command, stdin=subprocess.PIPE,
                                                               stdout=subprocess.PIPE, text=True)
        if self._read() != "ready":
            raise RuntimeError("the sink did not start")

    def _read(self) -> str:
        """One line of the sink's answers."""
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, question: str) -> str:
        """One answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(question + "\n")
        self.process.stdin.flush()
        return self._read()

    def bulk(self) -> int:
        """Bulk copies arrived so far."""
        return int(self.ask("count"))

    def arrival(self, index: int) -> float:
        """When bulk copy ``index`` (from 0) arrived."""
        return float(self.ask(f"at {index}"))

    def baseline(self) -> int:
        """The baseline's copies arrived so far."""
        return int(self.ask("baseline"))

    def account(self, address: str) -> list[float]:
        """When account emails to ``address`` arrived."""
        found: list[float] = json.loads(self.ask(f"account {address}"))
        return found

    def stop(self) -> None:
        """Close its stdin (it stops) and reap it."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the database and the app -------------------------------------------------------------------


def add_subscribers(app: Flask, count: int) -> None:
    """Migrate (with the user who forgets a password), then add ``count`` confirmed subscribers,
    ``CHUNK`` rows per INSERT."""
    from mailroom.extensions import db
    from mailroom.models import User
    from mailroom.services.passwords import hash_password
    from mailroom.state import now

    migrate_and_fill(app, 0)
    with app.app_context():
        password_hash, moment = hash_password("bench password 1234"), now()
        for start in range(0, count, CHUNK):
            numbers = range(start, min(count, start + CHUNK))
            db.session.execute(insert(User), [
                {"username": f"reader{i}", "username_key": f"reader{i}", "email": f"reader{i}@example.com",
                 "email_key": f"reader{i}@example.com", "password_hash": password_hash,
                 "email_confirmed": True, "created_at": moment, "is_admin": False, "subscribed": True,
                 "unsubscribe_token": secrets.token_urlsafe(24)} for i in numbers])
            db.session.commit()
        db.session.remove()


def scalar(app: Flask, query: str) -> Any:
    """One value read by the app's database."""
    from mailroom.extensions import db

    with app.app_context():
        found = db.session.scalar(text(query))
        db.session.remove()
        return found


def median_ms(action: Callable[[], Any], rounds: int = 3) -> float:
    """The median of ``rounds`` timings of ``action``, in milliseconds."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def status_ms(app: Flask) -> float:
    """``flask mail status`` in this process, through Flask's CLI runner."""
    runner = app.test_cli_runner()

    def status() -> None:
        result = runner.invoke(args=["mail", "status"])
        if result.exit_code != 0:
            raise RuntimeError(f"flask mail status failed: {result.output}")
    return median_ms(status)


def dashboard_ms(app: Flask) -> float:
    """The admin dashboard's figures (what its page shows, refreshed every 5 s), in this process."""
    from mailroom.extensions import db
    from mailroom.services import dashboard

    def figures() -> None:
        with app.test_request_context():
            dashboard.overview_for(3, None)
            db.session.remove()
    return median_ms(figures)


# --- the baseline: Flask-Mail's loop, as its documentation teaches ---------------------------------


def announcement_text(app: Flask) -> tuple[str, str, str]:
    """The announcement's subject, text and HTML, as stored."""
    from sqlalchemy import select

    from mailroom.extensions import db
    from mailroom.models import Announcement

    with app.app_context():
        found = db.session.scalars(select(Announcement).order_by(Announcement.id.desc())).first()
        assert found is not None
        values = found.subject, found.text_body, found.html_body or f"<p>{found.text_body}</p>"
        db.session.remove()
        return values


def flask_mail_loop(port: int, content: tuple[str, str, str], copies: int) -> tuple[float, float]:
    """``with mail.connect() as conn:`` and a template rendered per copy: (copies/s, CPU s per copy)."""
    import flask_mail
    from flask import render_template_string

    subject, body, html = content
    tutorial = Flask("tutorial")
    tutorial.config.update(MAIL_SERVER=HOST, MAIL_PORT=port, MAIL_DEFAULT_SENDER="news@bench.mailroom.test")
    mail = flask_mail.Mail(tutorial)
    users = [{"name": f"reader{i}", "email": f"reader{i}@example.com",
              "token": secrets.token_urlsafe(24)} for i in range(copies)]
    started, cpu = time.perf_counter(), time.process_time()
    with tutorial.app_context(), mail.connect() as conn:
        for user in users:
            unsubscribe = f"https://bench.mailroom.test/unsubscribe/{user['token']}"
            message = flask_mail.Message(subject, recipients=[user["email"]],
                                         extra_headers={"X-Bench-Baseline": "1"})
            message.body = render_template_string(TEXT_TEMPLATE, user=user, body=body,
                                                  unsubscribe=unsubscribe)
            message.html = render_template_string(HTML_TEMPLATE, user=user, html=html,
                                                  unsubscribe=unsubscribe)
            conn.send(message)
    return copies / (time.perf_counter() - started), (time.process_time() - cpu) / copies


# --- the drain -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to measure."""

    subscribers: int
    workers: int
    latency: float
    connections: int
    baseline: int
    pipelining: bool = True
    resets: int = RESETS
    drain: bool = True
    reset_gap: float = RESET_GAP


@dataclass
class Drain:
    """What the drain showed."""

    first_rate: float = 0.0
    last_rate: float = 0.0
    rate: float = 0.0
    cpu_per_copy: float = 0.0
    sink_cpu_per_copy: float = 0.0
    database_cpu_per_copy: float = 0.0
    reset_seconds: float = float("nan")
    reset_cpu: float = float("nan")
    paced_reset_cpu: float = float("nan")
    copies: int = 0
    first_cpu: Meter | None = None
    last_cpu: Meter | None = None


@contextmanager
def workers(options: Options, env: dict[str, str], tmp: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The worker processes, stopped at the end."""
    processes = [start_worker(env, tmp / f"worker{i}.log", options.connections)
                 for i in range(options.workers)]
    try:
        yield processes
    finally:
        for process in processes:
            stop_worker(process)


def postgres_cpu_seconds() -> float:
    """User plus system CPU time of every PostgreSQL server process on this machine so far (the
    server is local: its work for the workers is part of what a copy costs here), with that of
    the processes that have ended (a backend whose connection closed, an autovacuum worker: the
    server's main process counts its ended children's time), so the sum never goes back."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        if name.endswith("(postgres"):
            values = fields.split()
            total += sum(int(value) for value in values[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def rate_between(sink: SinkProcess, first: int, last: int) -> float:
    """Copies per second from the arrival of copy ``first`` to that of copy ``last`` (from 0)."""
    return (last - first) / max(sink.arrival(last) - sink.arrival(first), 1e-9)


def reset_during(app: Flask, sink: SinkProcess) -> float:
    """Request a reset now: seconds until the sink answered its 250."""
    request = account_email_request(app)
    before = len(sink.account(TARGET))
    started = time.monotonic()
    request()
    if not wait_until(lambda: len(sink.account(TARGET)) > before, ARRIVAL_TIMEOUT):
        raise RuntimeError(f"the reset did not arrive within {ARRIVAL_TIMEOUT:.0f} s")
    return sink.account(TARGET)[before] - started


def reset_cpu(app: Flask, sink: SinkProcess, processes: list[subprocess.Popen[bytes]], resets: int,
              gap: float = 0.0) -> float:
    """With the queue drained: the workers' CPU seconds per password reset, over ``resets`` resets
    requested one every ``gap`` seconds (0: at once), less what the idle workers spend in the same
    time (measured just before)."""
    def used() -> float:
        return sum(cpu_seconds(p) for p in processes)

    idle_from, idle_cpu = time.monotonic(), used()
    time.sleep(IDLE_SECONDS)
    idle_rate = (used() - idle_cpu) / (time.monotonic() - idle_from)
    request, before = account_email_request(app), len(sink.account(TARGET))
    started, cpu = time.monotonic(), used()
    for index in range(resets):
        time.sleep(max(started + index * gap - time.monotonic(), 0.0))  # a schedule, not a gap after each
        request()
    if not wait_until(lambda: len(sink.account(TARGET)) >= before + resets, ARRIVAL_TIMEOUT):
        raise RuntimeError(f"{resets} resets did not arrive within {ARRIVAL_TIMEOUT:.0f} s")
    spent = used() - cpu - idle_rate * (time.monotonic() - started)
    return spent / resets


class Meter(NamedTuple):
    """CPU seconds used so far by the workers, the sink and PostgreSQL, and the machine's CPU seconds
    stolen by its hypervisor and left idle, with the bulk copies arrived by then (or, from
    ``per_copy``, seconds per copy between two readings)."""

    copies: int
    workers: float
    sink: float
    database: float
    steal: float
    idle: float


def machine_seconds() -> tuple[float, float]:
    """(steal, idle) CPU seconds of the whole machine since boot, summed over its CPUs (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[7]) / ticks, int(fields[3]) / ticks


def meter(processes: list[subprocess.Popen[bytes]], sink: SinkProcess) -> Meter:
    """A reading now."""
    return Meter(sink.bulk(), sum(cpu_seconds(p) for p in processes), cpu_seconds(sink.process),
                 postgres_cpu_seconds(), *machine_seconds())


def per_copy(start: Meter, end: Meter) -> Meter:
    """Seconds per copy between two readings, and how many copies arrived in between."""
    copies = max(end.copies - start.copies, 1)
    spent = (after - before for before, after in zip(start[1:], end[1:], strict=True))
    return Meter(copies, *(seconds / copies for seconds in spent))


def reach(sink: SinkProcess, count: int) -> None:
    """Wait until ``count`` bulk copies have arrived."""
    if not wait_until(lambda: sink.bulk() >= count, DRAIN_TIMEOUT):
        raise RuntimeError(f"only {sink.bulk()} of {count} copies arrived within {DRAIN_TIMEOUT:.0f} s")


def drain(app: Flask, options: Options, env: dict[str, str], sink: SinkProcess, copies: int,
          tmp: Path) -> Drain:
    """Start the workers, request a reset halfway, wait for every copy; the figures, with the CPU
    per copy in the first and the last fifth (did the machine slow down, or the work grow?)."""
    found = Drain(copies=copies)
    fifth = max(copies // 5, 1)
    with workers(options, env, tmp) as processes:
        if not wait_until(lambda: sink.bulk() >= 1, ARRIVAL_TIMEOUT):
            raise RuntimeError(f"the workers delivered nothing; see their logs in {tmp}")
        start = meter(processes, sink)
        reach(sink, fifth)
        first = meter(processes, sink)
        reach(sink, copies // 2)
        found.reset_seconds = reset_during(app, sink)
        reach(sink, copies - fifth)
        late = meter(processes, sink)
        reach(sink, copies)
        end = meter(processes, sink)
        whole = per_copy(start, end)
        found.cpu_per_copy, found.sink_cpu_per_copy, found.database_cpu_per_copy = whole[1:4]
        found.first_cpu, found.last_cpu = per_copy(start, first), per_copy(late, end)
        found.reset_cpu = reset_cpu(app, sink, processes, options.resets)
        found.paced_reset_cpu = reset_cpu(app, sink, processes, options.resets, options.reset_gap)
    found.first_rate = rate_between(sink, 0, fifth)
    found.last_rate = rate_between(sink, copies - 1 - fifth, copies - 1)
    found.rate = rate_between(sink, 0, copies - 1)
    return found


def dead_tuples(app: Flask) -> tuple[int, int]:
    """(dead tuples, autovacuum runs) of ``outbox``, once the workers' statistics have reached the server."""
    time.sleep(1.5)  # each backend flushes its table statistics at most every second
    dead = scalar(app, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'outbox'")
    vacuums = scalar(app, "SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox'")
    return int(dead or 0), int(vacuums or 0)


def run(options: Options, tmp: Path) -> str:
    """The whole measurement; returns the last line."""
    sink = SinkProcess(options.latency, options.pipelining)
    try:
        with scratch_database("postgresql") as url:
            env = environment(url, sink.port)
            app = make_app(env)
            add_subscribers(app, options.subscribers)
            print(f"postgresql subscribers={options.subscribers} workers={options.workers} "
                  f"connections={options.connections} smtp_latency={options.latency}s "
                  f"pipelining={'on' if options.pipelining else 'off'} cpus={os.cpu_count()} "
                  f"load={os.getloadavg()[0]:.1f}", flush=True)
            before = int(scalar(app, "SELECT pg_total_relation_size('outbox')"))
            copies, fan_seconds = fan_out(app)
            per_copy = (int(scalar(app, "SELECT pg_total_relation_size('outbox')")) - before) / copies
            fan_rate = copies / fan_seconds
            print(f"fan-out: {copies} copies in {fan_seconds:.1f} s = {fan_rate:,.0f} copies/s; "
                  f"{per_copy:,.0f} outbox bytes per copy", flush=True)
            status, board = status_ms(app), dashboard_ms(app)
            print(f"queue full ({copies} copies), in process: flask mail status {status:.0f} ms, "
                  f"dashboard figures {board:.0f} ms (median of 3)", flush=True)
            if not options.drain:
                dispose(app)
                return (f"fanout_rate={fan_rate:.0f} bytes_per_copy={per_copy:.0f} status_ms={status:.0f} "
                        f"dashboard_ms={board:.0f}")
            sample = options.baseline if not options.latency else min(
                options.baseline, int(BASELINE_SECONDS_WHEN_SLOW / options.latency))
            base_rate, base_cpu = flask_mail_loop(sink.port, announcement_text(app), sample)
            if sink.baseline() != sample:
                raise RuntimeError(f"the sink got {sink.baseline()} of the baseline's {sample} copies")
            print(f"baseline, same run: Flask-Mail's loop (one connection, templates per copy), {sample} "
                  f"copies: {base_rate:,.0f} copies/s, {base_cpu * 1000:.2f} ms CPU per copy", flush=True)
            found = drain(app, options, env, sink, copies, tmp)
            dead, vacuums = dead_tuples(app)
            report(options, found, base_rate, base_cpu, dead, vacuums)
            dispose(app)
    finally:
        sink.stop()
    return (f"fanout_rate={fan_rate:.0f} bytes_per_copy={per_copy:.0f} "
            f"cpu_per_copy_ms={found.cpu_per_copy * 1000:.3f} drain_rate={found.rate:.0f} "
            f"last/first={found.last_rate / found.first_rate:.2f} reset_s={found.reset_seconds:.3f} "
            f"reset_cpu_ms={found.reset_cpu * 1000:.2f} "
            f"paced_reset_cpu_ms={found.paced_reset_cpu * 1000:.2f} "
            f"status_ms={status:.0f} dashboard_ms={board:.0f} dead_tuples={dead} "
            f"drain/flask_mail={found.rate / base_rate:.1f}")


def report(options: Options, found: Drain, base_rate: float, base_cpu: float, dead: int,
           vacuums: int) -> None:
    """The drain's figures, with the bulk connections' limit when the sink waits."""
    print(f"drain: {found.copies} copies at {found.rate:,.0f} copies/s; first fifth "
          f"{found.first_rate:,.0f}/s, last fifth {found.last_rate:,.0f}/s "
          f"(last/first = {found.last_rate / found.first_rate:.2f})")
    print(f"worker CPU per copy: {found.cpu_per_copy * 1000:.3f} ms (Flask-Mail's loop: "
          f"{base_cpu * 1000:.2f} ms); drain/Flask-Mail = {found.rate / base_rate:.1f}x; the sink's own "
          f"CPU per copy {found.sink_cpu_per_copy * 1000:.3f} ms; PostgreSQL's "
          f"{found.database_cpu_per_copy * 1000:.3f} ms; load now {os.getloadavg()[0]:.1f}")
    if found.first_cpu is not None and found.last_cpu is not None:
        first, last = found.first_cpu, found.last_cpu
        print(f"CPU per copy, first fifth / last fifth: workers {first.workers * 1000:.3f} / "
              f"{last.workers * 1000:.3f} ms, the sink {first.sink * 1000:.3f} / {last.sink * 1000:.3f} ms, "
              f"PostgreSQL {first.database * 1000:.3f} / {last.database * 1000:.3f} ms; the machine's CPU "
              f"stolen {first.steal * 1000:.3f} / {last.steal * 1000:.3f} ms, idle {first.idle * 1000:.3f} / "
              f"{last.idle * 1000:.3f} ms")
    if options.latency:
        limit = options.workers * (options.connections - 1) / options.latency
        print(f"bulk connections' limit: {options.workers} x {options.connections - 1} / {options.latency} s "
              f"= {limit:,.0f}/s; drain/limit = {found.rate / limit:.2f}")
    print(f"a reset requested halfway arrived after {found.reset_seconds:.3f} s; after the drain, "
          f"{options.resets} resets cost the workers {found.reset_cpu * 1000:.2f} ms of CPU each when "
          f"requested at once, {found.paced_reset_cpu * 1000:.2f} ms one every "
          f"{options.reset_gap * 1000:g} ms")
    print(f"outbox after the drain: {dead:,} dead tuples ({vacuums} autovacuum runs)")


def main() -> None:
    """Parse the options, run in a temporary directory, clean everything up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smtp-latency", type=float, default=0.0,
                        help="seconds the sink waits in DATA, on each connection independently")
    parser.add_argument("--connections", type=int, default=None,
                        help="MAIL_CONNECTIONS of each worker (default: 8 at latency 0, else 32)")
    parser.add_argument("--baseline-copies", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="a small run (300 subscribers) for the tests")
    parser.add_argument("--no-drain", action="store_true",
                        help="stop after the fan-out and the figures at full queue (no workers)")
    parser.add_argument("--no-pipelining", action="store_true",
                        help="the sink does not offer PIPELINING (every SMTP command a round trip)")
    parser.add_argument("--reset-gap", type=float, default=RESET_GAP,
                        help="seconds between the paced resets after the drain (default 0.004)")
    parser.add_argument("--sink", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        serve_sink(int(args.sink[0]), float(args.sink[1]), args.sink[2] == "1")
        return
    connections = args.connections or (32 if args.smtp_latency else 8)
    subscribers, baseline = (300, 50) if args.quick else (args.subscribers, args.baseline_copies)
    options = Options(subscribers, args.workers, args.smtp_latency, connections, baseline,
                      not args.no_pipelining, 20 if args.quick else RESETS, not args.no_drain,
                      args.reset_gap)
    tmp = Path(tempfile.mkdtemp(prefix="mailroom-bulk-"))
    try:
        last = run(options, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(last)


if __name__ == "__main__":
    main()
