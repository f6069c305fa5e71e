"""A local stand-in for MSG91's documented HTTP API: the SMS Flow endpoint and the WhatsApp
outbound-message endpoint, checking the ``authkey`` header as MSG91 does."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTH_KEY = "test-msg91-authkey"


class FakeMsg91:
    def __init__(self, *, fail: bool = False):
        self.calls: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(
                    {"path": self.path, "body": body, "authkey": self.headers.get("authkey")}
                )
                if self.headers.get("authkey") != AUTH_KEY:
                    code, answer = 401, {"type": "error", "message": "Authentication failure"}
                elif fake.fail:
                    code, answer = 500, {"type": "error", "message": "Internal error"}
                elif self.path in (
                    "/api/v5/flow",
                    "/api/v5/whatsapp/whatsapp-outbound-message/bulk/",
                ):
                    code, answer = 200, {"type": "success", "message": "3763646c3058313530393430"}
                else:
                    code, answer = 404, {"type": "error", "message": "Not found"}
                payload = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.fail = fail
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
