"""The delivery engine: worker processes, lanes, SMTP connections, claims, leases, pacing, transport.

``flask mail worker`` runs a ``Worker``; hosts and tests may run one in process
(``Worker(app).drain()`` delivers what is due and returns the count).
"""

from flask_mailroom.engine.worker import Worker

__all__ = ["Worker"]
