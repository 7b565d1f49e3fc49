"""The in-process delivery worker for development: a daemon thread started by the first request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask

from flask_mailroom.engine.worker import Worker
from flask_mailroom.store import state

SERVICE = "inprocess_worker"
POLL_SECONDS = 1.0


@dataclass
class InProcessWorker:
    """A worker and the thread running it."""

    worker: Worker
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the worker to stop after the message in hand, and wait for its thread."""
        self.worker.stop.set()
        self.thread.join(timeout)


def start(app: Flask) -> InProcessWorker:
    """Start the worker thread for this application now, once; return it."""
    services = state(app).services
    lock = services.setdefault(SERVICE + ".lock", threading.Lock())
    with lock:
        running = services.get(SERVICE)
        if isinstance(running, InProcessWorker):
            return running
        worker = Worker(app, inprocess=True)
        thread = threading.Thread(target=worker.run_forever, args=(POLL_SECONDS,),
                                  name="mailroom-worker", daemon=True)
        running = services[SERVICE] = InProcessWorker(worker, thread)
        thread.start()
        return running


def start_inprocess_worker(app: Flask) -> None:
    """When MAIL_WORKER_INPROCESS is on, start the worker with the first request (CLI commands never do)."""
    if not app.config["MAIL_WORKER_INPROCESS"]:
        return

    def ensure_started() -> None:
        """Start the thread once per process."""
        if SERVICE not in state(app).services:
            start(app)

    app.before_request(ensure_started)
