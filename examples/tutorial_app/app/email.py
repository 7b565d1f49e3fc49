from flask import render_template
from flask_mail import Message

from app import app, mail

# The tutorial sends from a thread so the request does not wait for SMTP:
#
#     def send_async_email(app, msg):
#         with app.app_context():
#             mail.send(msg)
#
#     Thread(target=send_async_email, args=(app, msg)).start()
#
# With Flask-Mailroom, mail.send() stores the message and returns at once; `flask mail worker`
# delivers it. A process that dies right after answering loses nothing.


def send_email(subject, sender, recipients, text_body, html_body):
    msg = Message(subject, sender=sender, recipients=recipients)
    msg.body = text_body
    msg.html = html_body
    mail.send(msg)


def send_password_reset_email(user):
    token = user.get_reset_password_token()
    send_email('[Microblog] Reset Your Password',
               sender=app.config['ADMINS'][0],
               recipients=[user.email],
               text_body=render_template('email/reset_password.txt', user=user, token=token),
               html_body=render_template('email/reset_password.html', user=user, token=token))
