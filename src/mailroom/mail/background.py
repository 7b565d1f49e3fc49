"""The in-process delivery worker for development: a daemon thread started by the first request."""

from __future__ import annotations

import threading

from flask import Flask

from mailroom.mail.worker import Worker

SERVICE = "inprocess_worker"


def start_inprocess_worker(app: Flask) -> None:
    """When MAIL_WORKER_INPROCESS is on, start one worker thread with the first request."""
    if not app.config["MAIL_WORKER_INPROCESS"]:
        return
    lock = threading.Lock()

    def ensure_started() -> None:
        """Start the thread once per process; CLI commands never serve a request, so never start it."""
        services = app.extensions["mailroom"].services
        with lock:
            if SERVICE in services:
                return
            worker = Worker(app)
            thread = threading.Thread(target=worker.run_forever, name="mailroom-worker",
                                      daemon=True)
            services[SERVICE] = worker
            thread.start()

    app.before_request(ensure_started)
