// app.js — the dashboard: scrapes /metrics and /api/failures every 2 s, keeps
// the rates it saw since the page opened (10 min at most), and traces an order
// (/api/trace/<id>, or #order=<id> in the address).
//
// Every figure shown is an element with data-metric (and data-warehouse or
// data-topic): its text is the value as shown, data-value the raw number.
// tests/e2e/dashboard.py compares them with /metrics.
"use strict";

// The series this page reads (src/metrics.c). Names live here alone.
var M = {
  pushes: "orderbridge_warehouse_pushes_total",               // {warehouse, adapter, outcome}
  retries: "orderbridge_warehouse_retries_total",
  parked: "orderbridge_warehouse_parked_total",
  rateLimited: "orderbridge_warehouse_rate_limited_total",
  deadLettered: "orderbridge_warehouse_dead_lettered_total",  // {..., reason}
  callbacks: "orderbridge_warehouse_callbacks_total",         // {..., result}
  polls: "orderbridge_warehouse_polls_total",                 // {..., result: ok | error}
  pushSeconds: "orderbridge_warehouse_push_duration_seconds",       // histogram
  outcomeSeconds: "orderbridge_warehouse_outcome_duration_seconds", // histogram
  inFlight: "orderbridge_warehouse_in_flight",
  queued: "orderbridge_warehouse_queued",
  limit: "orderbridge_warehouse_concurrency_limit",
  circuit: "orderbridge_warehouse_circuit_state",             // {..., state}: 1 for the current
  lag: "orderbridge_kafka_consumer_lag",                      // {topic, partition}
  brokerUp: "orderbridge_kafka_broker_up",                    // {broker}
  consumed: "orderbridge_consumed_total",
  finished: "orderbridge_finished_total",
  deadLetteredAll: "orderbridge_dead_lettered_total",
  inFlightAll: "orderbridge_in_flight",
  ledgerBytes: "orderbridge_ledger_bytes",
  ledgerEntries: "orderbridge_ledger_entries"
};
var REFUSED_CALLBACKS = ["forbidden", "malformed", "too_large", "unknown_order"];
var CIRCUIT_STATES = ["closed", "half_open", "open"];

var REFRESH_MS = 2000;
var HISTORY_MS = 10 * 60 * 1000;
var COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
              "#db2777", "#4b5563", "#65a30d"];

// ---- small helpers ----------------------------------------------------------

function el(tag, attrs, children) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) {
    if (k === "text") e.textContent = attrs[k];
    else if (k === "class") e.className = attrs[k];
    else e.setAttribute(k, attrs[k]);
  }
  (children || []).forEach(function (c) { if (c) e.appendChild(c); });
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function count(n) { return isFinite(n) ? String(Math.round(n)) : "—"; }

function seconds(v) {
  if (!isFinite(v)) return "—";
  var ms = v * 1000;
  if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + " s";
  return ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0) + " ms";
}

function bytes(n) {
  var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function rate(n) { return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); }

// A figure: its shown text and its raw value, for people and for tests.
function figure(tag, metric, value, text, where) {
  var attrs = { "data-metric": metric, "data-value": String(value), text: text };
  for (var k in where || {}) attrs["data-" + k] = where[k];
  return el(tag, attrs);
}

// ---- per-warehouse figures ---------------------------------------------------

// The table's columns: key (data-metric), heading, value from a parsed scrape.
var COLUMNS = [
  { key: "accepted", title: "accepted", get: function (p, w) { return Prom.sum(p, M.pushes, { warehouse: w, outcome: "accepted" }); } },
  { key: "rejected", title: "rejected", get: function (p, w) { return Prom.sum(p, M.pushes, { warehouse: w, outcome: "rejected" }); } },
  { key: "errors", title: "errors", hint: "pushes with no usable answer: timeout, 5xx, 429, connection", get: function (p, w) { return Prom.sum(p, M.pushes, { warehouse: w, outcome: "error" }); } },
  { key: "retries", title: "retries", get: function (p, w) { return Prom.sum(p, M.retries, { warehouse: w }); } },
  { key: "parked", title: "parked", hint: "put on the retry topic", get: function (p, w) { return Prom.sum(p, M.parked, { warehouse: w }); } },
  { key: "rate_limited", title: "rate-limited", get: function (p, w) { return Prom.sum(p, M.rateLimited, { warehouse: w }); } },
  { key: "dead_lettered", title: "dead-lettered", get: function (p, w) { return Prom.sum(p, M.deadLettered, { warehouse: w }); } },
  { key: "callbacks_ok", title: "callbacks ok", get: function (p, w) { return Prom.sum(p, M.callbacks, { warehouse: w, result: "ok" }); } },
  { key: "callbacks_refused", title: "callbacks refused", hint: REFUSED_CALLBACKS.join(", "), get: function (p, w) {
    return REFUSED_CALLBACKS.reduce(function (a, r) { return a + Prom.sum(p, M.callbacks, { warehouse: w, result: r }); }, 0); } },
  { key: "polls_ok", title: "polls ok", get: function (p, w) { return Prom.sum(p, M.polls, { warehouse: w, result: "ok" }); } },
  { key: "polls_error", title: "poll errors", get: function (p, w) { return Prom.sum(p, M.polls, { warehouse: w, result: "error" }); } }
];
var QUANTILES = [["p50", 0.5], ["p95", 0.95], ["p99", 0.99]];

// Warehouses named in the scrape, with their adapters, sorted by code.
function warehouses(p) {
  var seen = {};
  p.samples.forEach(function (s) {
    if (s.name.indexOf("orderbridge_warehouse_") === 0 && s.labels.warehouse !== undefined)
      seen[s.labels.warehouse] = s.labels.adapter || seen[s.labels.warehouse] || "";
  });
  return Object.keys(seen).sort().map(function (code) { return { code: code, adapter: seen[code] }; });
}

function circuitOf(p, w) {
  for (var i = 0; i < CIRCUIT_STATES.length; i++)
    if (Prom.sum(p, M.circuit, { warehouse: w, state: CIRCUIT_STATES[i] }) > 0) return CIRCUIT_STATES[i];
  return "unknown";
}

// ---- state -------------------------------------------------------------------

var state = {
  scrapes: 0,
  busy: false,    // a scrape is out
  prev: null,     // {t, counters: {wh: {accepted, failed}}}
  history: [],    // [{t, rates: {wh: {accepted, failed}}}]
  colors: {}      // wh -> color, stable while the page is open
};

function colorOf(w) {
  if (!state.colors[w]) state.colors[w] = COLORS[Object.keys(state.colors).length % COLORS.length];
  return state.colors[w];
}

// Rates from two successive scrapes; a counter that went down restarted.
function recordRates(p, whs, t) {
  var counters = {};
  whs.forEach(function (w) {
    counters[w.code] = {
      accepted: Prom.sum(p, M.pushes, { warehouse: w.code, outcome: "accepted" }),
      failed: Prom.sum(p, M.pushes, { warehouse: w.code, outcome: "rejected" }) +
              Prom.sum(p, M.pushes, { warehouse: w.code, outcome: "error" })
    };
  });
  if (state.prev && t > state.prev.t) {
    var dt = (t - state.prev.t) / 1000, rates = {};
    whs.forEach(function (w) {
      var now = counters[w.code], before = state.prev.counters[w.code] || { accepted: 0, failed: 0 };
      var d = function (k) { return (now[k] >= before[k] ? now[k] - before[k] : now[k]) / dt; };
      rates[w.code] = { accepted: d("accepted"), failed: d("failed") };
    });
    state.history.push({ t: t, rates: rates });
    while (state.history.length && state.history[0].t < t - HISTORY_MS) state.history.shift();
  }
  state.prev = { t: t, counters: counters };
}

// ---- rendering ---------------------------------------------------------------

function renderCards(p) {
  var cards = document.getElementById("cards");
  var brokers = Prom.select(p, M.brokerUp);
  var up = brokers.filter(function (s) { return s.value > 0; }).length;
  var last = state.history[state.history.length - 1];
  var accepted = 0;
  if (last) for (var w in last.rates) accepted += last.rates[w].accepted;
  var card = function (label, metric, value, text, sub) {
    return el("div", { class: "card" }, [el("div", { class: "label", text: label }),
                                          figure("div", metric, value, text),
                                          sub ? el("div", { class: "sub", text: sub }) : null]);
  };
  clear(cards);
  [card("consumed", "consumed", Prom.sum(p, M.consumed), count(Prom.sum(p, M.consumed))),
   card("finished", "finished", Prom.sum(p, M.finished), count(Prom.sum(p, M.finished))),
   card("dead-lettered", "dead_lettered_total", Prom.sum(p, M.deadLetteredAll), count(Prom.sum(p, M.deadLetteredAll))),
   card("in flight", "in_flight_total", Prom.sum(p, M.inFlightAll), count(Prom.sum(p, M.inFlightAll))),
   card("accepted / s", "accepted_rate", accepted, last ? rate(accepted) : "—"),
   card("consumer lag", "lag_total", Prom.sum(p, M.lag), count(Prom.sum(p, M.lag))),
   card("brokers up", "brokers_up", up, brokers.length ? up + " of " + brokers.length : "—"),
   card("ledger entries", "ledger_entries", Prom.sum(p, M.ledgerEntries),
        count(Prom.sum(p, M.ledgerEntries)), bytes(Prom.sum(p, M.ledgerBytes)) + " in use")
  ].forEach(function (c) { cards.appendChild(c); });
}

// The first cell of a warehouse's row: its color, code and adapter.
function whCell(w) {
  var swatch = el("span", { class: "swatch" });
  swatch.style.background = colorOf(w.code);
  return el("td", { class: "wh" }, [swatch, el("span", { class: "code", text: w.code }),
                                     el("span", { class: "adapter", text: w.adapter })]);
}

// Fill table `id` with a heading row and a row per warehouse (cells(w) -> [td]).
function fillTable(id, headings, whs, cells) {
  var table = document.getElementById(id), head = table.tHead, body = table.tBodies[0];
  clear(head);
  clear(body);
  head.appendChild(el("tr", {}, headings.map(function (h) {
    return el("th", { class: h.num ? "num" : "", text: h.text, title: h.hint || "" });
  })));
  if (!whs.length)
    body.appendChild(el("tr", {}, [el("td", { class: "empty", colspan: String(headings.length),
                                              text: "no warehouse figures in /metrics" })]));
  whs.forEach(function (w) { body.appendChild(el("tr", {}, [whCell(w)].concat(cells(w)))); });
}

function numCell(metric, value, text, at) {
  var td = figure("td", metric, value, text, at);
  td.className = "num" + (value === 0 ? " zero" : "");
  return td;
}

function renderWarehouses(p, whs) {
  fillTable("warehouses", [{ text: "warehouse" }].concat(COLUMNS.map(function (c) {
    return { text: c.title, hint: c.hint, num: true };
  })), whs, function (w) {
    return COLUMNS.map(function (c) {
      var v = c.get(p, w.code);
      return numCell(c.key, v, count(v), { warehouse: w.code });
    });
  });

  var headings = [{ text: "warehouse" }, { text: "circuit" }, { text: "in flight", num: true },
                  { text: "limit", num: true, hint: "pushes allowed at once now (adaptive)" },
                  { text: "queued", num: true }];
  [["push", "push"], ["outcome", "outcome"]].forEach(function (h) {
    QUANTILES.forEach(function (q) { headings.push({ text: h[1] + " " + q[0], num: true }); });
  });
  fillTable("capacity", headings, whs, function (w) {
    var at = { warehouse: w.code }, circuit = circuitOf(p, w.code);
    var badge = figure("span", "circuit", circuit, circuit.replace("_", "-"), at);
    badge.className = "badge " + circuit;
    var inFlight = Prom.sum(p, M.inFlight, at), limit = Prom.sum(p, M.limit, at);
    var queued = Prom.sum(p, M.queued, at);
    var row = [el("td", {}, [badge]), numCell("in_flight", inFlight, count(inFlight), at),
               numCell("concurrency_limit", limit, count(limit), at),
               numCell("queued", queued, count(queued), at)];
    [["push", M.pushSeconds], ["outcome", M.outcomeSeconds]].forEach(function (h) {
      var b = Prom.buckets(p, h[1], at);
      QUANTILES.forEach(function (q) {
        var v = Prom.quantile(q[1], b);
        row.push(numCell(h[0] + "_" + q[0], v, seconds(v), at));
      });
    });
    return row;
  });
}

function renderKafka(p) {
  var body = document.getElementById("lag").tBodies[0], topics = {};
  Prom.select(p, M.lag).forEach(function (s) {
    var t = topics[s.labels.topic] || (topics[s.labels.topic] = { n: 0, lag: 0, max: 0 });
    t.n++;
    t.lag += s.value;
    t.max = Math.max(t.max, s.value);
  });
  clear(body);
  var names = Object.keys(topics).sort();
  if (!names.length)
    body.appendChild(el("tr", {}, [el("td", { colspan: "4", class: "empty", text: "no consumer lag reported yet" })]));
  names.forEach(function (name) {
    var t = topics[name], at = { topic: name };
    body.appendChild(el("tr", {}, [el("td", { text: name }), el("td", { class: "num", text: String(t.n) }),
      figure("td", "lag", t.lag, count(t.lag), at), figure("td", "lag_max", t.max, count(t.max), at)]));
    body.lastChild.children[2].className = body.lastChild.children[3].className = "num";
  });
  var brokers = document.getElementById("brokers");
  clear(brokers);
  brokers.appendChild(el("span", { class: "dim", text: "brokers " }));
  Prom.select(p, M.brokerUp).forEach(function (s) {
    var b = el("span", { class: "badge " + (s.value > 0 ? "closed" : "open"),
                         text: s.labels.broker + (s.value > 0 ? " up" : " down") });
    brokers.appendChild(b);
    brokers.appendChild(document.createTextNode(" "));
  });
}

// A line chart of history[].rates[wh][key] on a canvas, one line per warehouse.
function drawChart(id, legendId, key, whs) {
  var canvas = document.getElementById(id);
  var ratio = window.devicePixelRatio || 1;
  var width = canvas.clientWidth || 640, height = canvas.clientHeight || 200;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  var g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  var left = 48, right = 10, top = 10, bottom = 22;
  var plotW = width - left - right, plotH = height - top - bottom;
  var h = state.history, now = h.length ? h[h.length - 1].t : Date.now();
  var span = Math.max(60 * 1000, h.length ? now - h[0].t : 0);
  var max = 0;
  h.forEach(function (pt) { for (var w in pt.rates) max = Math.max(max, pt.rates[w][key]); });
  // a round top: 1, 2 or 5 times a power of ten
  var step = Math.pow(10, Math.floor(Math.log10(Math.max(max, 1) / 4)));
  var nice = [1, 2, 5, 10].map(function (m) { return m * step; }).find(function (s) { return s * 4 >= max; });
  var top4 = Math.max(nice * 4, 1);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7280";
  g.strokeStyle = "#e5e7eb";
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (var i = 0; i <= 4; i++) {
    var y = top + plotH - (plotH * i) / 4;
    g.beginPath();
    g.moveTo(left, Math.round(y) + 0.5);
    g.lineTo(left + plotW, Math.round(y) + 0.5);
    g.stroke();
    g.fillText(String(Number(((top4 * i) / 4).toPrecision(3))), left - 6, y);
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  var minutes = Math.round(span / 60000);
  g.fillText("−" + (minutes >= 1 ? minutes + " min" : Math.round(span / 1000) + " s"), left + 12, top + plotH + 6);
  g.fillText("now", left + plotW - 10, top + plotH + 6);
  var x = function (t) { return left + plotW - ((now - t) / span) * plotW; };
  var yOf = function (v) { return top + plotH - (v / top4) * plotH; };
  var legend = document.getElementById(legendId);
  clear(legend);
  whs.forEach(function (w) {
    g.strokeStyle = colorOf(w.code);
    g.lineWidth = 1.75;
    g.lineJoin = "round";
    g.beginPath();
    var started = false;
    h.forEach(function (pt) {
      var r = pt.rates[w.code];
      if (!r) { started = false; return; }
      if (started) g.lineTo(x(pt.t), yOf(r[key]));
      else g.moveTo(x(pt.t), yOf(r[key]));
      started = true;
    });
    g.stroke();
    var last = h.length ? h[h.length - 1].rates[w.code] : null;
    if (last) { // the latest point, visible even before there is a line
      g.fillStyle = colorOf(w.code);
      g.beginPath();
      g.arc(x(now), yOf(last[key]), 2.5, 0, 2 * Math.PI);
      g.fill();
    }
    var sw = el("span", { class: "swatch" });
    sw.style.background = colorOf(w.code);
    legend.appendChild(el("span", { class: "item" }, [sw, el("span", { text: w.code + " " }),
      figure("span", key + "_rate", last ? last[key] : 0, last ? rate(last[key]) + "/s" : "—", { warehouse: w.code })]));
  });
  if (!h.length) {
    g.fillStyle = "#9ca3af";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText("rates appear after the second scrape", left + plotW / 2, top + plotH / 2);
  }
}

function setStatus(stateName, text) {
  var s = document.getElementById("status");
  s.dataset.state = stateName;
  s.textContent = text;
}

// ---- failures and traces (JSON API) ------------------------------------------

function renderFailures(list) {
  var table = document.getElementById("failures"), body = table.tBodies[0];
  clear(body);
  table.dataset.state = list.length ? "shown" : "empty";
  table.dataset.count = String(list.length);
  if (!list.length)
    body.appendChild(el("tr", {}, [el("td", { colspan: "5", class: "empty", text: "no recent failures" })]));
  list.slice(0, 100).forEach(function (f) {
    var link = el("a", { href: "#order=" + encodeURIComponent(f.order_id || ""), text: f.order_id || "" });
    body.appendChild(el("tr", { "data-failure": f.outcome || "" }, [
      el("td", { class: "time", text: shortTime(f.time) }), el("td", {}, [link]),
      el("td", { text: f.warehouse || "" }),
      el("td", {}, [el("span", { class: "badge " + (f.outcome || ""),
                                 text: (f.outcome || "").replace(/_/g, "-") })]),
      el("td", { class: "reason", text: f.reason || "" })]));
  });
}

function shortTime(t) {
  var d = new Date(t);
  if (isNaN(d)) return t || "";
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function failuresUnavailable(why) {
  var table = document.getElementById("failures"), body = table.tBodies[0];
  table.dataset.state = "unavailable";
  clear(body);
  body.appendChild(el("tr", {}, [el("td", { colspan: "5", class: "empty", text: why })]));
}

function orderFromHash() {
  var m = /(?:^#|&)order=([^&]*)/.exec(location.hash);
  if (!m) return null;
  try { return decodeURIComponent(m[1]); } catch (e) { return m[1]; }
}

function showTrace(id) {
  var box = document.getElementById("trace");
  clear(box);
  box.dataset.order = id;
  if (!id) { box.dataset.state = "idle"; return; }
  document.getElementById("trace-input").value = id;
  box.dataset.state = "loading";
  box.appendChild(el("p", { class: "note", text: "looking up " + id + "…" }));
  fetch("/api/trace/" + encodeURIComponent(id), { cache: "no-store" }).then(function (r) {
    if (r.status === 404) return null;
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (trace) {
    if (box.dataset.order !== id) return; // another search since
    clear(box);
    if (!trace) {
      box.dataset.state = "not_found";
      box.appendChild(el("p", { class: "notfound", text: "Order " + id + ": not found (not seen by this bridge, or too long ago)." }));
      return;
    }
    box.dataset.state = "found";
    renderTrace(box, trace);
  }).catch(function (e) {
    if (box.dataset.order !== id) return;
    clear(box);
    box.dataset.state = "error";
    box.appendChild(el("p", { class: "notfound", text: "Order " + id + ": cannot load its trace (" + e.message + ")." }));
  });
}

function renderTrace(box, trace) {
  var facts = [["order", trace.order_id], ["warehouse", trace.warehouse], ["trace id", trace.trace_id]];
  box.appendChild(el("p", { class: "facts" }, facts.filter(function (f) { return f[1]; }).map(function (f) {
    return el("span", {}, [el("span", { class: "dim", text: f[0] + " " }), el("code", { text: String(f[1]) })]);
  })));
  var stages = trace.stages || [], t0 = stages.length ? Date.parse(stages[0].time) : NaN;
  var list = el("ol", { class: "timeline" });
  stages.forEach(function (s) {
    var extra = Object.keys(s).filter(function (k) { return ["time", "stage", "detail"].indexOf(k) < 0; })
      .map(function (k) { return k + "=" + (typeof s[k] === "object" ? JSON.stringify(s[k]) : s[k]); });
    var dt = Date.parse(s.time) - t0;
    list.appendChild(el("li", { "data-stage": s.stage || "" }, [
      el("span", { class: "time", text: shortTime(s.time) }),
      el("span", { class: "since", text: isFinite(dt) ? "+" + seconds(dt / 1000) : "" }),
      el("span", { class: "badge stage " + (s.stage || ""), text: s.stage || "?" }),
      el("span", { class: "detail", text: (s.detail || "") + (extra.length ? "  " + extra.join("  ") : "") })]));
  });
  if (!stages.length) list.appendChild(el("li", { class: "empty", text: "no stages recorded" }));
  box.appendChild(list);
}

// ---- the refresh loop ----------------------------------------------------------

function refresh() {
  var t = Date.now();
  if (state.busy) return; // the previous scrape is still out
  state.busy = true;
  fetch("/metrics", { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("/metrics: HTTP " + r.status);
    return r.text();
  }).then(function (text) {
    var p = Prom.parse(text), whs = warehouses(p), main = document.getElementById("main");
    recordRates(p, whs, t);
    renderCards(p);
    renderWarehouses(p, whs);
    renderKafka(p);
    drawChart("chart-accepted", "legend-accepted", "accepted", whs);
    drawChart("chart-failed", "legend-failed", "failed", whs);
    state.scrapes++;
    main.dataset.scrapes = String(state.scrapes);
    main.dataset.parseErrors = String(p.errors.length);
    if (p.errors.length) console.warn("/metrics:", p.errors.slice(0, 5));
    setStatus("ok", "updated " + new Date(t).toLocaleTimeString([], { hour12: false }) +
              " · every " + REFRESH_MS / 1000 + " s" + (p.errors.length ? " · " + p.errors.length + " unreadable line(s)" : ""));
  }).catch(function (e) {
    setStatus("error", "cannot read /metrics: " + e.message);
  }).then(function () { state.busy = false; });
  fetch("/api/failures", { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (doc) {
    renderFailures(doc.failures || []);
  }).catch(function (e) {
    failuresUnavailable("failures unavailable: " + e.message);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.getElementById("trace-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var id = document.getElementById("trace-input").value.trim();
    if (!id) return;
    if (orderFromHash() === id) showTrace(id); // the same hash: no hashchange
    else location.hash = "order=" + encodeURIComponent(id);
  });
  window.addEventListener("hashchange", function () { showTrace(orderFromHash()); });
  var id = orderFromHash();
  if (id) showTrace(id);
  refresh();
  setInterval(refresh, REFRESH_MS);
});
