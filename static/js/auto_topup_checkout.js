// Razorpay's checkout with recurring=1: the authorisation payment that creates the token.
(function () {
  const page = document.getElementById("mandate-page");
  const button = document.getElementById("open-mandate-checkout");
  if (!page || !button || typeof Razorpay === "undefined") return;
  function post(fields) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = page.dataset.confirmUrl;
    const all = Object.assign({ csrfmiddlewaretoken: page.dataset.csrf, clinic: page.dataset.clinic }, fields);
    for (const [name, value] of Object.entries(all)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
  }
  button.addEventListener("click", function () {
    new Razorpay({
      key: page.dataset.key,
      order_id: page.dataset.orderId,
      customer_id: page.dataset.customerId,
      recurring: "1",
      handler: function (answer) {
        post({
          razorpay_order_id: answer.razorpay_order_id,
          razorpay_payment_id: answer.razorpay_payment_id,
          razorpay_signature: answer.razorpay_signature,
        });
      },
      modal: { ondismiss: function () { window.location = page.dataset.backUrl; } },
    }).open();
  });
})();
