"""The development mailbox: a blueprint that shows every message delivered in development, the SMTP
catcher that fills it, and the link check. ``Mail.init_app`` mounts it when ``MAIL_DEV_MAILBOX`` is on."""

from flask_mailroom.devmail.views import bp, framed_html
from flask_mailroom.models.devmail import DevMail

__all__ = ["DevMail", "bp", "framed_html"]
