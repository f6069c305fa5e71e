// The analytics charts, drawn from the tables beside them (the tables are what screen readers
// and the CSV get; the charts repeat them). Chart.js is vendored in static/vendor/chartjs.
(function () {
  "use strict";
  if (typeof Chart === "undefined") return;
  Chart.defaults.font.size = 13;
  Chart.defaults.color = "#1f2937";
  Chart.defaults.animation = false;
  var rupees = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR", maximumFractionDigits: 0 });
  var whole = new Intl.NumberFormat("en-IN");

  var rows = Array.prototype.slice.call(document.querySelectorAll("#month-table tbody tr"));
  var spend = document.getElementById("spend-chart");
  if (spend && rows.length) {
    new Chart(spend, {
      data: {
        labels: rows.map(function (r) { return r.dataset.month; }),
        datasets: [
          { type: "bar", label: "Rupees spent", yAxisID: "spent", backgroundColor: "#93c5fd",
            data: rows.map(function (r) { return Number(r.dataset.spent); }) },
          { type: "line", label: "Patients booked", yAxisID: "booked", borderColor: "#047857",
            backgroundColor: "#047857", data: rows.map(function (r) { return Number(r.dataset.booked); }) }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (c) {
            return c.dataset.label + ": " + (c.dataset.yAxisID === "spent" ? rupees.format(c.parsed.y) : whole.format(c.parsed.y));
          } } } },
        scales: {
          x: { ticks: { autoSkip: true, maxRotation: 45 } },
          spent: { position: "left", beginAtZero: true, title: { display: true, text: "₹ spent" },
            ticks: { callback: function (v) { return rupees.format(v); } } },
          booked: { position: "right", beginAtZero: true, title: { display: true, text: "booked" },
            grid: { drawOnChartArea: false }, ticks: { precision: 0 } }
        }
      }
    });
  }
  var funnel = document.getElementById("funnel-chart");
  if (funnel) {
    new Chart(funnel, {
      type: "bar",
      data: {
        labels: funnel.dataset.labels.split("|"),
        datasets: [{ label: "Leads", backgroundColor: "#6366f1",
          data: funnel.dataset.values.split("|").map(Number) }]
      },
      options: {
        indexAxis: "y", responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }
})();
