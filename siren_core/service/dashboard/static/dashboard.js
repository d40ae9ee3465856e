// siren-core dashboard: draws each [data-chart] as a bar chart with uPlot (vendored in
// this folder) and lets a header checkbox select every row of a table. Nothing else.
"use strict";
(function () {
  function bars(el) {
    var data = JSON.parse(el.getAttribute("data-chart"));
    if (!data.values.length || typeof uPlot === "undefined") { return; }
    var xs = data.values.map(function (_v, i) { return i; });
    var ys = data.values.map(function (v) { return v / 100; });
    var width = Math.max(260, el.clientWidth || 600);
    var options = {
      width: width, height: 220, legend: { show: false },
      scales: { x: { time: false, range: [-0.5, xs.length - 0.5] },
                // bars start at zero, so that their heights compare
                y: { range: function (_u, _min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [{ values: function (_u, ticks) { return ticks.map(function (t) { return data.labels[t] || ""; }); },
               splits: function () { return xs; } },
             { label: data.units }],
      series: [{}, { label: data.units, fill: "rgba(31,95,191,0.55)", stroke: "#1f5fbf",
                     paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }]
    };
    el.uplot = new uPlot(options, [xs, ys], el);
  }
  function selectAll(box) {
    box.addEventListener("change", function () {
      var form = box.closest("form");
      form.querySelectorAll('input[name="' + box.getAttribute("data-select-all") + '"]')
        .forEach(function (item) { item.checked = box.checked; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(bars);
    document.querySelectorAll("[data-select-all]").forEach(selectAll);
  });
})();
