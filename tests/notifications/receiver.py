"""A clinic's webhook receiver, as a clinic would write it, on a local port.

It verifies ``Antidote-Signature`` with the README's snippet (``notifications.signing.verify``),
refuses stale signatures (a replay), drops repeats by event id, and can be told to fail its
first N requests. Every request is recorded, accepted or not.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from notifications.signing import verify


class Receiver:
    def __init__(self, secret: str = "", fail_first: int = 0, status: int = 500):
        self.secret, self.fail_first, self.fail_status = secret, fail_first, status
        self.requests: list[dict] = []  # every request: headers, body, answer
        self.accepted: list[str] = []  # event ids processed, each once
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = receiver.answer(dict(self.headers), body)
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {code}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/antidote"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, headers: dict, body: bytes) -> int:
        with self.lock:
            self.requests.append({"headers": headers, "body": body})
            if len(self.requests) <= self.fail_first:
                return self.fail_status
            header = headers.get("Antidote-Signature", "")
            if not verify(secret=self.secret, body=body, header=header):
                return 400
            event_id = json.loads(body)["id"]
            if event_id not in self.accepted:  # a repeat is acknowledged, not processed
                self.accepted.append(event_id)
            return 200

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
