"""The site's Content-Security-Policy, with Razorpay's checkout let in only for live payments.

The policy itself is CONTENT_SECURITY_POLICY in settings. Razorpay's checkout.js (served from
RAZORPAY_CHECKOUT_JS's origin) opens its payment window in a frame from the same origin and
talks to it, so live mode adds that origin to script-src, frame-src and connect-src. In test
mode the stand-in checkout is ours and nothing outside is allowed.
"""

from urllib.parse import urlsplit

from csp.constants import NONE
from csp.middleware import CSPMiddleware
from django.conf import settings


def live_payments() -> bool:
    return settings.PAYMENT_MODE == "live"


def checkout_origin() -> str:
    parts = urlsplit(settings.RAZORPAY_CHECKOUT_JS)
    return f"{parts.scheme}://{parts.netloc}"


class PaymentAwareCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if live_payments() and not report_only:
            origin = checkout_origin()
            directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
            parts.replace = {
                **(parts.replace or {}),
                **{
                    # 'none' must stand alone in a directive, so it gives way to the origin.
                    name: [s for s in directives.get(name, []) if s != NONE] + [origin]
                    for name in ("script-src", "frame-src", "connect-src")
                },
            }
        return parts
