// Test-payment mode's stand-in for Razorpay's checkout: the three outcomes a real checkout
// can end in. Data comes from the box's data-* attributes (no inline script under the CSP).
(function () {
  "use strict";
  const box = document.getElementById("test-checkout");
  if (!box) return;
  const order = encodeURIComponent(box.dataset.orderId);
  box.addEventListener("click", async function (event) {
    const outcome = event.target.dataset.outcome;
    if (outcome === "dismiss") { window.location.href = box.dataset.topupUrl + "?dismissed=1"; return; }
    if (outcome === "failure") { window.location.href = box.dataset.failureUrl + "?order=" + order; return; }
    if (outcome !== "success") return;
    // What Razorpay's checkout hands the page after a payment: the three razorpay_* fields.
    const data = new FormData();
    data.append("razorpay_order_id", box.dataset.orderId);
    data.append("razorpay_payment_id", box.dataset.paymentId);
    data.append("razorpay_signature", box.dataset.signature);
    data.append("clinic", box.dataset.clinic);  // the clinic this page was made for
    const response = await fetch(box.dataset.verifyUrl, {method: "POST", headers: {"X-CSRFToken": box.dataset.csrf}, body: data});
    const body = await response.json();
    if (body.success) window.location.href = box.dataset.successUrl + "?order=" + order;
    else document.getElementById("checkout-error").textContent = body.message;
  });
})();
