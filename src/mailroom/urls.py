"""Absolute links for emails, built from configuration and never from the request's Host."""

from __future__ import annotations

from typing import Any

from flask import current_app

DEVELOPMENT_SERVER = "127.0.0.1:5000"


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL to ``endpoint`` on ``SERVER_NAME`` with ``PREFERRED_URL_SCHEME``."""
    config = current_app.config
    adapter = current_app.url_map.bind(
        config["SERVER_NAME"] or DEVELOPMENT_SERVER,
        script_name=config.get("APPLICATION_ROOT") or "/",
        url_scheme=config["PREFERRED_URL_SCHEME"],
    )
    return adapter.build(endpoint, values, force_external=True)
