"""Register, sign in, sign out."""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers.response import Response

from mailroom.extensions import db, login_manager
from mailroom.models import User
from mailroom.services import accounts
from mailroom.web.forms import LoginForm, RegistrationForm
from mailroom.web.http import redirect_next

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | str | tuple[str, int]:
    """Create an account, then sign the new user in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(form.username.data or "", form.email.data or "",
                                     form.password.data or "")
        except accounts.AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            login_user(user)
            flash("Welcome! Your account is ready.", "success")
            return redirect(url_for("account.index"))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """Sign in with a username or email; follow ``next`` only to a local path."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.identifier.data or "", form.password.data or "")
        except accounts.InvalidCredentials as error:
            form.password.errors.append(error.message)
        else:
            login_user(user, remember=bool(form.remember.data))
            return redirect_next("main.index")
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out this session (POST, so a link elsewhere cannot sign anyone out)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("main.index"))


def load_user(session_id: str) -> User | None:
    """Resolve ``id:version``; an old version means the session was revoked."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


def register_login(app: Flask) -> None:
    """Configure Flask-Login for this application."""
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
