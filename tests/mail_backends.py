"""Email backends for tests: a mail server that is down, and one that never answers."""

import smtplib
import socket
import threading

from django.core.mail.backends import locmem
from django.core.mail.backends.base import BaseEmailBackend


class FailingEmailBackend(BaseEmailBackend):
    """Every send fails the way a refused SMTP login or a full mailbox does."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPException("the mail server is down (test backend)")


class SelectiveEmailBackend(BaseEmailBackend):
    """Delivers to the test outbox, except to the addresses in ``fail_for``: those fail."""

    fail_for: set[str] = set()

    def send_messages(self, email_messages):
        for message in email_messages:
            if set(message.recipients()) & self.fail_for:
                raise smtplib.SMTPRecipientsRefused(dict.fromkeys(message.recipients()))
        return locmem.EmailBackend().send_messages(email_messages)


def closed_port() -> int:
    """A local TCP port that nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SilentSMTPServer:
    """Accepts TCP connections and never says a word, like a mail server that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()
