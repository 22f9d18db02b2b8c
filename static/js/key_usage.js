// The key page's spend per day over the last 30 days.
document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("chart-key-daily");
  var source = document.getElementById("key-usage-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var days = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: days.map(function (d) { return d.day.slice(5); }),
      datasets: [{label: canvas.dataset.label, data: days.map(function (d) { return d.spend; })}]
    },
    options: {animation: false, maintainAspectRatio: false}
  });
});
