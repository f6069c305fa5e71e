// The checkout page (the top-up form's POST answer): opens Razorpay's checkout for the order
// when its script loaded, and says so in the page when it did not. Without this script the
// page still offers Razorpay's hosted payment page.
(function () {
  "use strict";
  const box = document.getElementById("checkout-page");
  if (!box) return;
  const button = document.getElementById("open-checkout");
  if (typeof window.Razorpay !== "function") {
    document.getElementById("gateway-error").hidden = false;
    return;
  }
  button.hidden = false;
  const order = encodeURIComponent(box.dataset.orderId);
  button.addEventListener("click", function () {
    const checkout = new window.Razorpay({
      key: box.dataset.key,
      amount: Number(box.dataset.amount),
      currency: "INR",
      order_id: box.dataset.orderId,
      name: "Antidote credits",
      description: Number(box.dataset.credits).toLocaleString("en-IN") + " credits",
      handler: async function (answer) {
        const data = new FormData();
        data.append("clinic", box.dataset.clinic);
        ["razorpay_payment_id", "razorpay_order_id", "razorpay_signature"].forEach((k) => data.append(k, answer[k]));
        const response = await fetch(box.dataset.verifyUrl, { method: "POST", headers: { "X-CSRFToken": box.dataset.csrf, Accept: "application/json" }, body: data, credentials: "same-origin" });
        let body = { success: false };
        try { body = await response.json(); } catch (e) { /* the failure page explains */ }
        window.location.href = (body.success ? box.dataset.successUrl : box.dataset.failureUrl) + "?order=" + order;
      },
    });
    checkout.on("payment.failed", function () { window.location.href = box.dataset.failureUrl + "?order=" + order; });
    checkout.open();
  });
})();
