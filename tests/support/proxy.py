"""A real proxy hop on loopback: the app served over HTTP, a reverse proxy in front, browsers behind it.

``serve(app)`` runs the application under Werkzeug's ``make_server`` in a thread (its access log
goes to the ``werkzeug`` logger, as the development server's does). ``ReverseProxy`` forwards every
request to it over a new connection, appending the address of the peer it sees to
``X-Forwarded-For`` and saying ``X-Forwarded-Proto: https`` (as a TLS-terminating nginx does with
``proxy_add_x_forwarded_for``). ``Browser`` connects from a loopback address of its own
(127.0.0.2, 127.0.0.3, ...: all of 127/8 is loopback on Linux), keeps its cookies and reads CSRF
tokens from pages, so two browsers are two clients to the proxy.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from werkzeug.serving import make_server

TIMEOUT = 10.0
# Headers of one connection, which a proxy does not pass on (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "transfer-encoding", "upgrade"})
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@contextmanager
def serve(app: Flask) -> Iterator[int]:
    """Serve ``app`` on a free loopback port in a thread, yielding the port; stopped afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="app-under-proxy", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


class _Forward(BaseHTTPRequestHandler):
    """Forwards one request to the upstream port and relays the answer unchanged."""

    server: _ProxyServer

    def _forward(self) -> None:
        """Pass the request on with the peer appended to X-Forwarded-For; relay the response."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        earlier, seen = self.headers.get("X-Forwarded-For"), self.client_address[0]
        headers = [(name, value) for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP | {"x-forwarded-for", "x-forwarded-proto"}]
        headers += [("X-Forwarded-For", f"{earlier}, {seen}" if earlier else seen),
                    ("X-Forwarded-Proto", "https")]
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=TIMEOUT)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                upstream.putheader(name, value)
            upstream.endheaders(body)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            upstream.close()

    def do_GET(self) -> None:
        """Forward a GET."""
        self._forward()

    def do_POST(self) -> None:
        """Forward a POST."""
        self._forward()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the app's own access log is the one under test."""


class _ProxyServer(ThreadingHTTPServer):
    """The proxy's listening socket, knowing where to forward."""

    daemon_threads = True
    upstream_port: int


@contextmanager
def reverse_proxy(upstream_port: int) -> Iterator[int]:
    """A reverse proxy on a free loopback port forwarding to ``upstream_port``; yields its port."""
    server = _ProxyServer(("127.0.0.1", 0), _Forward)
    server.upstream_port = upstream_port
    thread = threading.Thread(target=server.serve_forever, name="reverse-proxy", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@dataclass
class Reply:
    """One response: its status, headers and text."""

    status: int
    headers: http.client.HTTPMessage
    text: str


@dataclass
class Browser:
    """A client at one loopback address, with its own cookies, talking HTTP to one port."""

    port: int
    address: str
    host: str = "mailroom.test"
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """Send one request (a form is posted urlencoded), keep the cookies set, follow nothing."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT,
                                                source_address=(self.address, 0))
        sent = {"Host": self.host, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, response.headers, response.read().decode("utf-8", "replace"))
        finally:
            connection.close()
        for cookie in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in cookie.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return reply

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        """GET ``path``."""
        return self.request("GET", path, headers=headers)

    def post_form(self, page: str, action: str, fields: dict[str, str],
                  headers: dict[str, str] | None = None) -> Reply:
        """Open ``page`` for its CSRF token, then post ``fields`` with it to ``action``."""
        found = CSRF_META.search(self.get(page, headers).text)
        assert found, f"no CSRF token on {page}"
        return self.request("POST", action, {**fields, "csrf_token": found.group(1)}, headers)
