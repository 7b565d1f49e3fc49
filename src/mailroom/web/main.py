"""The home page, and the site's icon where browsers look for it by default."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    """Home."""
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The icon, for clients that ask for it without reading the page. Answered without loading
    the visitor: a 404 page would be the first to load it, and saving the session that adds to a
    cookie could undo what a concurrent response had just stored there (a reset link's handoff)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)
