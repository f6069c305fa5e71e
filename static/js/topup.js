// Top-up page: live quote, order creation, Razorpay checkout (or the test-mode stand-in),
// and verification. The server decides every amount; this script only carries messages.
(function () {
  "use strict";
  const form = document.getElementById("topup-form");
  if (!form) return;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const errorBox = document.getElementById("topup-error");
  const promoMessage = document.getElementById("promo-message");

  function choice() {
    const data = new FormData(form);
    if (data.get("package")) data.delete("amount"); else data.delete("package");
    return data;
  }

  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      body: data,
      credentials: "same-origin",
    });
    let body;
    try { body = await response.json(); } catch (e) { body = { success: false, message: "Unexpected answer from the server; nothing was charged." }; }
    return body;
  }

  let pending = 0;
  async function refreshQuote() {
    const ticket = ++pending;
    const quote = await post(form.dataset.checkUrl, choice());
    if (ticket !== pending) return;  // a newer change is on its way
    const hasPromo = (form.elements.promo_code.value || "").trim() !== "";
    promoMessage.textContent = quote.message || "";
    promoMessage.className = quote.success ? "muted" : "errorlist";
    if (quote.success) {
      const rupees = (value) => "₹" + Number(value).toLocaleString("en-IN", { maximumFractionDigits: 2 });
      // "₹5,000 + ₹900 GST = ₹5,900": the server's figures; Razorpay is charged the total.
      document.getElementById("pay-amount").textContent = quote.has_billing_state
        ? rupees(quote.amount) + " + " + rupees(quote.gst) + " GST = " + rupees(quote.total)
        : rupees(quote.amount) + " + GST (choose your billing state above)";
      document.getElementById("get-credits").textContent = quote.credits.toLocaleString("en-IN");
      if (hasPromo && quote.discount) promoMessage.textContent += " You save ₹" + quote.discount.toLocaleString("en-IN") + ".";
      if (hasPromo && quote.bonus_credits) promoMessage.textContent += " +" + quote.bonus_credits + " bonus credits.";
    }
  }

  form.addEventListener("change", refreshQuote);
  form.elements.amount.addEventListener("input", function () {
    document.getElementById("custom-choice").checked = true;
    refreshQuote();
  });
  form.elements.promo_code.addEventListener("input", refreshQuote);
  refreshQuote();

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    errorBox.textContent = "";
    const button = document.getElementById("pay-button");
    button.disabled = true;
    const order = await post(form.action, choice());
    button.disabled = false;
    if (!order.success) { errorBox.textContent = order.message; return; }
    const result = (url) => url + "?order=" + encodeURIComponent(order.order_id);
    if (form.dataset.testCheckoutUrl) {
      window.location.href = form.dataset.testCheckoutUrl.replace("ORDER_ID", encodeURIComponent(order.order_id));
      return;
    }
    const checkout = new window.Razorpay({
      key: order.key,
      amount: order.razorpay_amount,
      currency: order.currency,
      order_id: order.order_id,
      name: "Antidote credits",
      description: order.credits.toLocaleString("en-IN") + " credits",
      handler: async function (answer) {
        const data = new FormData();
        data.append("clinic", form.dataset.clinic);  // the clinic this page was made for
        ["razorpay_payment_id", "razorpay_order_id", "razorpay_signature"].forEach((k) => data.append(k, answer[k]));
        const verified = await post(form.dataset.verifyUrl, data);
        window.location.href = result(verified.success ? form.dataset.successUrl : form.dataset.failureUrl);
      },
      modal: { ondismiss: function () { window.location.href = form.dataset.topupUrl + "?dismissed=1"; } },
    });
    checkout.on("payment.failed", function () { window.location.href = result(form.dataset.failureUrl); });
    checkout.open();
  });
})();
