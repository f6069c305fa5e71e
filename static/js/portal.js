// The portal's small behaviours, kept out of the markup (the Content-Security-Policy allows no
// inline script). Each works on whatever the page holds, and the pages work without it.
(function () {
  "use strict";

  // htmx error answers it does not swap (403, 404, 429, 5xx, or no answer at all) become a
  // friendly message where the action happened, with DEBUG on or off alike. A 400 carries the
  // form again with what was wrong, and htmx swaps it in itself.
  var MESSAGES = {
    403: "You cannot do that with your role at this clinic.",
    404: "That is no longer there. Reload the page to see the current state.",
    409: "Someone changed this meanwhile. Reload the page to see the current state.",
    413: "That upload is too large.",
    429: "Too many requests just now. Wait a minute and try again.",
  };
  var FALLBACK = "Something went wrong on our side. Reload the page to see whether it was saved.";
  var OFFLINE = "The server could not be reached. Check your connection and try again.";

  function showError(elt, target, text) {
    var box = document.createElement("div");
    box.className = "banner danger htmx-error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-testid", "htmx-error");
    box.textContent = text;
    if (target && target.id === "dispute-panel") {
      var panel = document.createElement("div");
      panel.id = "dispute-panel";
      panel.className = "card";
      panel.setAttribute("tabindex", "-1");
      panel.appendChild(box);
      target.replaceWith(panel);
      reveal(panel);
      return;
    }
    var anchor = (elt && (elt.closest("form") || elt)) || document.querySelector("main");
    var previous = anchor.parentNode && anchor.parentNode.querySelector(":scope > .htmx-error");
    if (previous) previous.remove();
    anchor.insertAdjacentElement("afterend", box);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 400) return; // swapped in by htmx: the form with its errors
    var text = MESSAGES[xhr.status] || FALLBACK;
    if (xhr.status === 429 && xhr.getResponseHeader("Retry-After")) {
      var minutes = Math.max(1, Math.ceil(Number(xhr.getResponseHeader("Retry-After")) / 60));
      text = "Too many requests just now. Try again in " + minutes + " minute" + (minutes === 1 ? "" : "s") + ".";
    }
    showError(event.detail.elt, event.detail.target, text);
  });
  document.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.elt, event.detail.target, OFFLINE);
  });

  // A panel loaded for a row far down the page (the dispute form) is scrolled to and focused,
  // so the view never stays where the panel is not.
  function reveal(panel) {
    panel.scrollIntoView({ block: "start", behavior: "instant" });
    var field = panel.querySelector("select, textarea, input:not([type=hidden]), button");
    if (!panel.hasAttribute("tabindex")) panel.setAttribute("tabindex", "-1");
    (field || panel).focus({ preventScroll: true });
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target; // with outerHTML, the element that was replaced
    if (!target || target.id !== "dispute-panel") return;
    var panel = document.getElementById("dispute-panel");
    if (panel) reveal(panel);
  });

  // A message box with a limit counts as the patient types, and says when it is over.
  function counter(area) {
    var max = Number(area.getAttribute("data-max-chars"));
    var note = document.createElement("span");
    note.className = "char-count";
    note.setAttribute("aria-live", "polite");
    note.setAttribute("data-testid", "char-count");
    area.insertAdjacentElement("afterend", note);
    function update() {
      var used = area.value.length;
      note.classList.toggle("over", used > max);
      note.textContent = used > max
        ? used.toLocaleString("en-IN") + " characters: " + (used - max).toLocaleString("en-IN") + " over the limit of " + max.toLocaleString("en-IN") + ". Shorten it to send."
        : used.toLocaleString("en-IN") + " of " + max.toLocaleString("en-IN") + " characters";
    }
    area.addEventListener("input", update);
    update();
  }
  function init(root) {
    root.querySelectorAll("textarea[data-max-chars]").forEach(counter);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
})();
