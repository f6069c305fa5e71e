"""A local stand-in for Razorpay's HTTP API, for the official SDK to talk to in tests.

Stdlib only, 127.0.0.1 on a random port. It keeps orders and payments in memory, answers
errors in Razorpay's JSON shape, and can be told to misbehave: ``mode`` = "5xx", "400",
"slow" (longer than the client's timeout), "slow-then-ok" (the client times out on the next
POST, which is carried out all the same) or "html" (a non-JSON answer). ``refund_status`` is
the status a new refund starts in.
"""

import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRazorpay:
    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.mode = "ok"
        self.refund_status = "pending"
        self.slow_seconds = 1.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # What a test does at "Razorpay" -------------------------------------------------------

    def pay(self, order_id: str, *, status="captured", amount=None) -> dict:
        """A customer pays an order: a payment appears, captured or only authorised."""
        order = self.orders[order_id]
        payment = {
            "id": f"pay_{secrets.token_hex(7)}",
            "entity": "payment",
            "order_id": order_id,
            "amount": order["amount"] if amount is None else amount,
            "currency": "INR",
            "status": status,
        }
        self.payments[payment["id"]] = payment
        return payment

    def refund(self, payment_id: str, amount: int, *, notes=None) -> dict:
        """Money goes back from Razorpay's dashboard (or our own call, with our notes)."""
        refund = {
            "id": f"rfnd_{secrets.token_hex(7)}",
            "entity": "refund",
            "payment_id": payment_id,
            "amount": amount,
            "currency": "INR",
            "notes": notes or [],
            "status": "processed",
        }
        self.refunds[refund["id"]] = refund
        return refund

    # The HTTP side ------------------------------------------------------------------------

    def handle(self, request, method):
        self.requests.append((method, request.path))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if self.mode == "slow":
            time.sleep(self.slow_seconds)
        if self.mode == "slow-then-ok" and method == "POST":
            # The client gives up first, yet the request is carried out: a refund made at
            # Razorpay whose answer never arrived.
            time.sleep(self.slow_seconds)
            self.mode = "ok"
        if self.mode == "html":
            return self.answer(request, 502, b"<html>Bad gateway</html>", "text/html")
        if self.mode == "5xx":
            return self.error(request, 500, "SERVER_ERROR", "The server encountered an error.")
        if self.mode == "400":
            return self.error(
                request, 400, "BAD_REQUEST_ERROR", "The amount must be at least INR 1.00"
            )
        body = json.loads(raw) if raw else {}
        routes = [
            ("POST", r"/v1/orders", self.create_order),
            ("GET", r"/v1/orders/(?P<oid>[\w]+)/payments", self.order_payments),
            ("GET", r"/v1/orders/(?P<oid>[\w]+)", self.fetch_order),
            ("POST", r"/v1/payments/(?P<pid>[\w]+)/capture", self.capture),
            ("GET", r"/v1/payments/(?P<pid>[\w]+)/refunds", self.payment_refunds),
            ("POST", r"/v1/payments/(?P<pid>[\w]+)/refund", self.create_refund),
            ("GET", r"/v1/refunds/(?P<rid>[\w]+)", self.fetch_refund),
            ("GET", r"/v1/payments/(?P<pid>[\w]+)", self.fetch_payment),
        ]
        path = request.path.split("?")[0]
        for verb, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                status, payload = action(body, **match.groupdict())
                return self.answer(
                    request, status, json.dumps(payload).encode(), "application/json"
                )
        return self.error(request, 404, "BAD_REQUEST_ERROR", "The requested URL was not found")

    def create_order(self, body):
        if not isinstance(body.get("amount"), int) or body["amount"] < 100:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The amount must be at least INR 1.00")
        order = {
            "id": f"order_{secrets.token_hex(7)}",
            "entity": "order",
            "amount": body["amount"],
            "currency": body.get("currency", "INR"),
            "receipt": body.get("receipt"),
            "notes": body.get("notes", {}),
            "status": "created",
        }
        self.orders[order["id"]] = order
        return 200, order

    def fetch_order(self, body, oid):
        if oid not in self.orders:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        return 200, self.orders[oid]

    def order_payments(self, body, oid):
        items = [p for p in self.payments.values() if p["order_id"] == oid]
        return 200, {"entity": "collection", "count": len(items), "items": items}

    def fetch_payment(self, body, pid):
        if pid not in self.payments:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        return 200, self.payments[pid]

    def payment_refunds(self, body, pid):
        items = [r for r in self.refunds.values() if r["payment_id"] == pid]
        return 200, {"entity": "collection", "count": len(items), "items": items}

    def create_refund(self, body, pid):
        """Razorpay's refund of a captured payment: never more than captured less refunded.
        The refund starts ``refund_status`` ("pending" unless a test says "processed")."""
        payment = self.payments.get(pid)
        if payment is None or payment["status"] != "captured":
            return 400, self.error_body("BAD_REQUEST_ERROR", "The payment has not been captured")
        refunded = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_id"] == pid and r["status"] != "failed"
        )
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 100 or refunded + amount > payment["amount"]:
            return 400, self.error_body(
                "BAD_REQUEST_ERROR", "The refund amount provided is greater than amount captured"
            )
        refund = self.refund(pid, amount, notes=body.get("notes") or [])
        refund["status"] = self.refund_status
        return 200, refund

    def fetch_refund(self, body, rid):
        if rid not in self.refunds:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        return 200, self.refunds[rid]

    def capture(self, body, pid):
        payment = self.payments.get(pid)
        if payment is None or payment["status"] != "authorized":
            return 400, self.error_body(
                "BAD_REQUEST_ERROR", "This payment has already been captured"
            )
        if body.get("amount") != payment["amount"]:
            return 400, self.error_body("BAD_REQUEST_ERROR", "Capture amount must match")
        payment["status"] = "captured"
        return 200, payment

    @staticmethod
    def error_body(code, description):
        return {"error": {"code": code, "description": description}}

    def error(self, request, status, code, description):
        self.answer(
            request,
            status,
            json.dumps(self.error_body(code, description)).encode(),
            "application/json",
        )

    @staticmethod
    def answer(request, status, body: bytes, content_type):
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
