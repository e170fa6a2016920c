// prom_test.js — src/dashboard/prom.js against tests/data/dashboard/sample.prom
// (SAMPLE, set by the page dashboard.py writes). Writes "pass" or the failures
// into <body data-result>.
"use strict";

(function () {
  var failures = [];
  function check(what, got, want) {
    var same = got === want ||
      (typeof want === "number" && isNaN(want) ? typeof got === "number" && isNaN(got)
       : typeof want === "number" ? Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want))
       : JSON.stringify(got) === JSON.stringify(want));
    if (!same) failures.push(what + ": got " + JSON.stringify(got) + ", want " + JSON.stringify(want));
  }

  var p = Prom.parse(SAMPLE);
  check("one unreadable line", p.errors.length, 1);
  check("the unreadable line's number", /^line (\d+):/.exec(p.errors[0] || "")[1], "43");
  check("HELP unescaped", p.help.orderbridge_in_flight,
        "orders being worked on now \\ a backslash\nand a second line");
  check("TYPE", p.types.orderbridge_warehouse_push_duration_seconds, "histogram");
  check("plain counter", Prom.sum(p, "orderbridge_consumed_total"), 3030);
  check("value with a timestamp", Prom.sum(p, "orderbridge_in_flight"), 7);
  check("exponent", Prom.sum(p, "orderbridge_warehouse_pushes_total", { outcome: "error", warehouse: "SF-GZ-01" }), 15);
  check("spaces and a trailing comma in labels",
        Prom.sum(p, "orderbridge_warehouse_pushes_total", { warehouse: "REST-SH-01", outcome: "error" }), 11);
  check("sum over a label", Prom.sum(p, "orderbridge_warehouse_pushes_total", { warehouse: "SF-GZ-01" }), 908);
  check("no such series", Prom.sum(p, "orderbridge_nothing_total"), 0);
  check("NaN", Prom.select(p, "odd_values", { kind: "nan" })[0].value, NaN);
  check("+Inf", Prom.select(p, "odd_values", { kind: "inf" })[0].value, Infinity);
  check("-Inf", Prom.select(p, "odd_values", { kind: "neg" })[0].value, -Infinity);
  check("negative small", Prom.select(p, "odd_values", { kind: "small" })[0].value, -0.00125);
  var odd = Prom.select(p, "odd_labels")[0] || { labels: {} };
  check("escaped quote and backslashes", odd.labels.path, "C:\\orders\\\"new\"");
  check("escaped newline", odd.labels.note, "two\nlines");
  check("empty label value", odd.labels.empty, "");

  var sf = Prom.buckets(p, "orderbridge_warehouse_push_duration_seconds", { warehouse: "SF-GZ-01" });
  check("buckets sorted, +Inf last", sf.map(function (b) { return b.le; }), [0.1, 0.5, 1, null]);
  check("p25: the top of the first bucket", Prom.quantile(0.25, sf), 0.1);
  check("p50 interpolated", Prom.quantile(0.5, sf), 0.3);
  check("p99 interpolated", Prom.quantile(0.99, sf), 0.98);
  var rest = Prom.buckets(p, "orderbridge_warehouse_push_duration_seconds", { warehouse: "REST-SH-01" });
  check("in +Inf: the highest finite bound", Prom.quantile(0.99, rest), 1);
  check("p50 in the first bucket", Prom.quantile(0.5, rest), 1);
  check("no observations: NaN", Prom.quantile(0.5,
        Prom.buckets(p, "orderbridge_warehouse_outcome_duration_seconds", { warehouse: "REST-SH-01" })), NaN);
  check("no buckets: NaN", Prom.quantile(0.5, []), NaN);
  check("q > 1", Prom.quantile(1.5, sf), Infinity);
  check("decreasing counts made monotonic", Prom.quantile(0.8,
        [{ le: 1, count: 10 }, { le: 2, count: 4 }, { le: 3, count: 15 }, { le: Infinity, count: 15 }]), 2.4);

  document.body.dataset.result = failures.length ? failures.join("\n") : "pass";
  document.body.textContent = document.body.dataset.result;
})();
