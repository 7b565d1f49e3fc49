"""The account page."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@login_required
def index() -> str:
    """The signed-in user's address, its confirmation state and account actions."""
    return render_template("account/index.html")
