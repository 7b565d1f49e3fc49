"""The mail path: compose into the outbox, deliver with the worker, transport to SMTP or the dev mailbox."""
