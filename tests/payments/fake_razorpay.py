"""A local stand-in for Razorpay's HTTP API, for the official SDK to talk to in tests.

Stdlib only, 127.0.0.1 on a random port. It keeps orders and payments in memory, answers
errors in Razorpay's JSON shape, and can be told to misbehave: ``mode`` = "5xx", "400",
"slow" (longer than the client's timeout), "slow-then-ok" (the client times out on the next
POST, which is carried out all the same) or "html" (a non-JSON answer). ``refund_status`` is
the status a new refund starts in.

Recurring payments: customers, tokens (made when a test authorises an order opened with a
``customer_id`` and a ``token`` block, as the checkout with recurring=1 does) and
``/payments/create/recurring``. ``recurring_outcome`` says what a recurring payment does:
"captured", "failed" (a decline), "created" (a UPI debit still waiting) or "timeout" (made,
but the answer comes after the client's timeout).
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
        self.payment_links: dict[str, dict] = {}
        self.customers: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.recurring_outcome = "captured"
        self.key_secret = ""  # set by a test that plays the hosted page's signed return
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
        routes += self.payment_link_routes()
        routes += self.recurring_routes()
        path = request.path.split("?")[0]
        if method == "GET" and path.startswith("/pl/"):
            return self.hosted_page(request, path.removeprefix("/pl/"))
        if method == "POST" and path.startswith("/pl/") and path.endswith("/pay"):
            return self.hosted_page_pay(request, path.removeprefix("/pl/").removesuffix("/pay"))
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
        for key in ("customer_id", "method", "token", "payment_capture"):
            if key in body:
                order[key] = body[key]
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

    # Payment links (Razorpay's hosted payment page) ----------------------------------------
    # Kept apart from the order endpoints above; a second payment is refunded through the
    # one refund endpoint above (create_refund), like a staff refund.

    def payment_link_routes(self):
        return [
            ("POST", r"/v1/payment_links/?", self.create_payment_link),
            ("GET", r"/v1/payment_links/(?P<lid>[\w]+)", self.fetch_payment_link),
        ]

    def create_payment_link(self, body):
        if not isinstance(body.get("amount"), int) or body["amount"] < 100:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The amount must be at least INR 1.00")
        link_id = f"plink_{secrets.token_hex(7)}"
        link = {
            "id": link_id,
            "entity": "payment_link",
            "amount": body["amount"],
            "amount_paid": 0,
            "currency": body.get("currency", "INR"),
            "reference_id": body.get("reference_id"),
            "description": body.get("description"),
            "callback_url": body.get("callback_url"),
            "notes": body.get("notes", {}),
            "status": "created",
            "short_url": f"{self.url}/pl/{link_id}",
            "payments": [],
        }
        self.payment_links[link_id] = link
        return 200, link

    def fetch_payment_link(self, body, lid):
        if lid not in self.payment_links:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        return 200, self.payment_links[lid]

    def pay_link(self, link_id: str) -> dict:
        """A customer pays on the hosted page: a captured payment on the link's own order."""
        link = self.payment_links[link_id]
        payment = {
            "id": f"pay_{secrets.token_hex(7)}",
            "entity": "payment",
            "order_id": f"order_{secrets.token_hex(7)}",  # Razorpay's, made for the link
            "amount": link["amount"],
            "currency": "INR",
            "status": "captured",
        }
        self.payments[payment["id"]] = payment
        link["status"], link["amount_paid"] = "paid", link["amount"]
        link["payments"].append(
            {"payment_id": payment["id"], "amount": link["amount"], "status": "captured"}
        )
        return payment

    def link_return_query(self, link_id: str, payment: dict) -> dict:
        """What the hosted page appends to the callback URL, signed as Razorpay signs it."""
        import hashlib
        import hmac

        link = self.payment_links[link_id]
        message = f"{link_id}|{link['reference_id']}|paid|{payment['id']}"
        signature = hmac.new(self.key_secret.encode(), message.encode(), hashlib.sha256)
        return {
            "razorpay_payment_id": payment["id"],
            "razorpay_payment_link_id": link_id,
            "razorpay_payment_link_reference_id": link["reference_id"],
            "razorpay_payment_link_status": "paid",
            "razorpay_signature": signature.hexdigest(),
        }

    def hosted_page(self, request, link_id):
        link = self.payment_links.get(link_id)
        if link is None:
            return self.answer(request, 404, b"no such link", "text/plain")
        page = (
            f"<!doctype html><title>Razorpay payment page</title><h1>Pay INR "
            f"{link['amount'] / 100:.2f}</h1><form method=post action='/pl/{link_id}/pay'>"
            f"<button id=pay>Pay</button></form>"
        )
        return self.answer(request, 200, page.encode(), "text/html")

    def hosted_page_pay(self, request, link_id):
        from urllib.parse import urlencode

        payment = self.pay_link(link_id)
        target = (
            self.payment_links[link_id]["callback_url"]
            + "?"
            + urlencode(self.link_return_query(link_id, payment))
        )
        request.send_response(303)
        request.send_header("Location", target)
        request.send_header("Content-Length", "0")
        request.end_headers()

    # Recurring payments ---------------------------------------------------------------------

    def recurring_routes(self):
        return [
            ("POST", r"/v1/customers", self.create_customer),
            ("GET", r"/v1/customers/(?P<cid>[\w]+)/tokens/(?P<tid>[\w]+)", self.fetch_token),
            ("POST", r"/v1/payments/create/recurring", self.create_recurring),
        ]

    def create_customer(self, body):
        if not body.get("name"):
            return 400, self.error_body("BAD_REQUEST_ERROR", "The name field is required.")
        for customer in self.customers.values():
            if (customer["email"], customer["contact"]) == (body.get("email"), body.get("contact")):
                if body.get("fail_existing") in ("0", 0, False):
                    return 200, customer
                return 400, self.error_body("BAD_REQUEST_ERROR", "Customer already exists")
        customer = {
            "id": f"cust_{secrets.token_hex(7)}",
            "entity": "customer",
            "name": body["name"],
            "email": body.get("email"),
            "contact": body.get("contact"),
            "notes": body.get("notes", {}),
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def authorise(self, order_id: str, *, method="card", token_status="confirmed") -> dict:
        """The clinic completes the checkout (recurring=1) for an authorisation order: a
        captured payment, and a token in ``token_status`` (a UPI mandate may start
        "initiated" and be confirmed later by a ``token.confirmed`` webhook)."""
        order = self.orders[order_id]
        token = {
            "id": f"token_{secrets.token_hex(7)}",
            "entity": "token",
            "customer_id": order["customer_id"],
            "method": method,
            "recurring": True,
            "recurring_details": {"status": token_status, "failure_reason": None},
            "max_amount": order["token"]["max_amount"],
            "card": {"last4": "4242", "network": "Visa"} if method == "card" else None,
            "vpa": {"username": "glowclinic", "handle": "okaxis"} if method == "upi" else None,
        }
        self.tokens[token["id"]] = token
        payment = self.pay(order_id)
        payment["token_id"], payment["method"] = token["id"], method
        return payment

    def fetch_token(self, body, cid, tid):
        token = self.tokens.get(tid)
        if token is None or token["customer_id"] != cid:
            return 400, self.error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        return 200, token

    def create_recurring(self, body):
        order = self.orders.get(body.get("order_id"))
        token = self.tokens.get(body.get("token"))
        if order is None or token is None or token["customer_id"] != body.get("customer_id"):
            return 400, self.error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        if str(body.get("recurring")) != "1" or not body.get("email") or not body.get("contact"):
            return 400, self.error_body("BAD_REQUEST_ERROR", "recurring, email, contact needed")
        if token["recurring_details"]["status"] != "confirmed":
            return 400, self.error_body("BAD_REQUEST_ERROR", "The token is not confirmed")
        if body.get("amount") != order["amount"] or body["amount"] > token["max_amount"]:
            return 400, self.error_body("BAD_REQUEST_ERROR", "Amount exceeds the mandate")
        outcome = self.recurring_outcome
        payment = self.pay(order["id"], status="failed" if outcome == "failed" else "captured")
        payment.update(token_id=token["id"], method=token["method"], recurring=True)
        if outcome == "created":
            payment["status"] = "created"
        if outcome == "failed":
            payment["error_description"] = "Your payment was declined by the bank."
        if outcome == "timeout":
            time.sleep(self.slow_seconds)
        return 200, {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": order["id"],
            "razorpay_signature": "not-checked-here",
        }
