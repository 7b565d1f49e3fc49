"""A TCP proxy on loopback that the test can cut: every connection through it dropped, new ones refused."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from tests.e2e.deploy.processes import free_port

CHUNK = 65536


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target``; ``cut`` and ``restore`` the link."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.listener: socket.socket | None = None
        self.accepting: threading.Thread | None = None
        self.cuts = 0

    def start(self) -> CuttableProxy:
        """Listen on the proxy's port (the same one after a cut)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        self.accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.accepting.start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        """Accept clients and pair each with a connection to the target until the listener closes."""
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                alive = self.listener is listener  # a cut while this one was connecting ends it too
                if alive:
                    self.pairs.append((client, upstream))
            if not alive:
                upstream.close()
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes."""
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in selector.select(timeout=1.0):
                    data = key.fileobj.recv(CHUNK)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            self._close(client, upstream)

    def _close(self, *sockets: socket.socket) -> None:
        """Close sockets, forgetting their pair."""
        with self.lock:
            self.pairs = [p for p in self.pairs if p[0] not in sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """Stop listening (new connections are refused) and drop every connection through the proxy."""
        self.cuts += 1
        with self.lock:
            listener, self.listener = self.listener, None
            pairs = list(self.pairs)
        if listener is not None:
            listener.close()
        for client, upstream in pairs:
            self._close(client, upstream)

    def restore(self) -> None:
        """Listen again."""
        if self.listener is None:
            self.start()

    def stop(self) -> None:
        """Cut for good."""
        self.cut()
