// prom.js — the Prometheus text exposition format (version 0.0.4) read in the
// browser, and histogram_quantile(). No DOM here: tests/e2e loads it alone.
"use strict";

var Prom = (function () {
  // A float as Prometheus writes one: Go's ParseFloat, with NaN and ±Inf.
  function parseValue(text) {
    switch (text) {
      case "NaN": return NaN;
      case "+Inf": case "Inf": return Infinity;
      case "-Inf": return -Infinity;
    }
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
      throw new Error("not a number: " + text);
    return Number(text);
  }

  // HELP text escapes \\ and \n; label values also \".
  function unescape(text) {
    return text.replace(/\\(.)/g, function (_, ch) {
      return ch === "n" ? "\n" : ch;
    });
  }

  var NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  var LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

  // One sample line: name{label="value",...} value [timestamp]
  function parseSample(line) {
    var m = NAME.exec(line);
    if (!m) throw new Error("no metric name");
    var sample = { name: m[0], labels: {}, value: 0 };
    var i = m[0].length;
    var skip = function () { while (line[i] === " " || line[i] === "\t") i++; };
    skip();
    if (line[i] === "{") {
      i++;
      for (;;) {
        skip();
        if (line[i] === "}") { i++; break; }
        var l = LABEL.exec(line.slice(i));
        if (!l) throw new Error("bad label name");
        i += l[0].length;
        skip();
        if (line[i] !== "=") throw new Error("expected =");
        i++;
        skip();
        if (line[i] !== '"') throw new Error("expected \"");
        var start = ++i;
        while (i < line.length && line[i] !== '"') i += line[i] === "\\" ? 2 : 1;
        if (i >= line.length) throw new Error("unterminated label value");
        sample.labels[l[0]] = unescape(line.slice(start, i));
        i++;
        skip();
        if (line[i] === ",") { i++; continue; }
        if (line[i] === "}") { i++; break; }
        throw new Error("expected , or }");
      }
    }
    var rest = line.slice(i).trim().split(/[ \t]+/);
    if (rest.length < 1 || rest.length > 2 || rest[0] === "")
      throw new Error("expected a value and an optional timestamp");
    sample.value = parseValue(rest[0]);
    return sample;
  }

  // The whole exposition: { samples: [{name, labels, value}], types: {family: type},
  // help: {family: text}, errors: ["line N: why"] }. A bad line is skipped and listed.
  function parse(text) {
    var out = { samples: [], types: {}, help: {}, errors: [] };
    var lines = text.split("\n");
    for (var n = 0; n < lines.length; n++) {
      var line = lines[n].replace(/\r$/, "");
      if (/^\s*$/.test(line)) continue;
      try {
        if (line[0] === "#") {
          var m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line);
          if (!m) continue; // a comment
          if (m[1] === "HELP") out.help[m[2]] = unescape(m[3] || "");
          else out.types[m[2]] = (m[3] || "untyped").trim();
          continue;
        }
        out.samples.push(parseSample(line.trim()));
      } catch (e) {
        out.errors.push("line " + (n + 1) + ": " + e.message);
      }
    }
    return out;
  }

  // Do a sample's labels include every pair of `match`?
  function matches(sample, match) {
    for (var k in match) if (sample.labels[k] !== match[k]) return false;
    return true;
  }

  // The samples named `name` whose labels include `match`.
  function select(parsed, name, match) {
    return parsed.samples.filter(function (s) {
      return s.name === name && matches(s, match || {});
    });
  }

  // Their values added up (0 when there are none).
  function sum(parsed, name, match) {
    return select(parsed, name, match).reduce(function (a, s) { return a + s.value; }, 0);
  }

  // A histogram's buckets [{le, count}] (sorted by le) from the samples of
  // `name`_bucket whose labels include `match`.
  function buckets(parsed, name, match) {
    return select(parsed, name + "_bucket", match)
      .map(function (s) { return { le: parseValue(s.labels.le), count: s.value }; })
      .sort(function (a, b) { return a.le - b.le; });
  }

  // Prometheus' histogram_quantile(): the q-quantile of cumulative buckets,
  // interpolated linearly inside the bucket where it falls; NaN without
  // observations or without the +Inf bucket; the highest finite bound when
  // it falls in +Inf.
  function quantile(q, bkts) {
    if (isNaN(q)) return NaN;
    if (q < 0) return -Infinity;
    if (q > 1) return Infinity;
    if (bkts.length < 2 || bkts[bkts.length - 1].le !== Infinity) return NaN;
    // counts must not decrease (scrapes are not atomic): as Prometheus does
    var b = bkts.map(function (x) { return { le: x.le, count: x.count }; });
    for (var i = 1; i < b.length; i++) if (b[i].count < b[i - 1].count) b[i].count = b[i - 1].count;
    var total = b[b.length - 1].count;
    if (!(total > 0)) return NaN;
    var rank = q * total;
    var at = 0;
    while (at < b.length - 1 && b[at].count < rank) at++;
    if (at === b.length - 1) return b[b.length - 2].le;
    if (at === 0 && b[0].le <= 0) return b[0].le;
    var start = 0, end = b[at].le, count = b[at].count;
    if (at > 0) {
      start = b[at - 1].le;
      count -= b[at - 1].count;
      rank -= b[at - 1].count;
    }
    return start + (end - start) * (rank / count);
  }

  return { parse: parse, parseValue: parseValue, select: select, sum: sum, buckets: buckets,
           quantile: quantile };
})();
