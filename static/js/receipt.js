// Receipt page: the Print button (no inline handlers under the Content-Security-Policy).
document.getElementById("print-receipt")?.addEventListener("click", () => window.print());
