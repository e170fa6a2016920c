#!/usr/bin/python3
"""Check a bridge's GET /metrics against what its simulated warehouses counted.

usage: check_metrics.py METRICS_URL CODE=SIM_URL [CODE=SIM_URL ...]
       check_metrics.py --demo ORDERBRIDGE OUTDIR

The second form runs `orderbridge demo --stay` (its log in OUTDIR), waits
for its summary, checks it as the first form does, and stops it.

The exposition is parsed whole by the Prometheus Python client's parser
(Debian's python3-prometheus-client): a line it cannot read fails the test.
Then, per warehouse, the bridge's counters must equal the simulator's own
(GET SIM_URL/stats), which counts what it received and answered:

  pushes + polls answered        == requests the simulator took
  pushes accepted                == orders created + duplicates answered
                                    - answers lost after a create (reset or garbage)
  callbacks answered ok          == callbacks the simulator saw answered with success
  push_duration_seconds_count    == pushes answered

Run it once the bridge has settled (the demo's summary printed): every push
answered, every callback delivered. Exits 0 when all hold, 1 otherwise.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode("utf-8")


def demo(orderbridge, outdir):
    """Run the demo, check its /metrics against its simulators, stop it."""
    os.makedirs(outdir, exist_ok=True)
    log_path = os.path.join(outdir, "demo.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([orderbridge, "demo", "--orders", "1000", "--stay"],
                                stdout=log, stderr=subprocess.STDOUT)
    rc = 1
    try:
        deadline, base, text = time.monotonic() + 90, None, ""
        while base is None and time.monotonic() < deadline and proc.poll() is None:
            with open(log_path) as log:
                text = log.read()
            m = re.search(r"^dashboard\s+(http://\S+)/dashboard \(serving until", text, re.M)
            base = m.group(1) if m else None
            if base is None:
                time.sleep(0.1)  # polling the log for the line, not waiting for time
        if base is None:
            print(f"FAIL: the demo printed no summary within 90 s; its log: {log_path}")
            return 1
        sims = re.search(r"simulated warehouses:(.*)", text).group(1)
        specs = [f"{code}=http://127.0.0.1:{port}"
                 for code, port in re.findall(r"(\S+) \(\w+\) :(\d+)", sims)]
        rc = check(base + "/metrics", specs)
    finally:
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=30) != 0:
            print(f"FAIL: the demo exited {proc.returncode}; its log: {log_path}")
            rc = 1
    return rc


def main(argv):
    if len(argv) == 4 and argv[1] == "--demo":
        return demo(argv[2], argv[3])
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    return check(argv[1], argv[2:])


def check(metrics_url, specs):
    text = get(metrics_url)
    families = list(text_string_to_metric_families(text))
    problems = []
    samples = {}
    for f in families:
        if not f.documentation:
            problems.append(f"{f.name}: no HELP")
        if f.type == "unknown":
            problems.append(f"{f.name}: no TYPE")
        for s in f.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))

    def value(name, **labels):
        found = [v for l, v in samples.get(name, []) if all(l.get(k) == x for k, x in labels.items())]
        if not found:
            problems.append(f"no sample {name} {labels}")
            return 0
        return sum(found)

    checked = 0
    for spec in specs:
        code, sim_url = spec.split("=", 1)
        st = json.loads(get(sim_url.rstrip("/") + "/stats"))
        pushes = value("orderbridge_warehouse_pushes_total", warehouse=code)
        accepted = value("orderbridge_warehouse_pushes_total", warehouse=code, outcome="accepted")
        polls = value("orderbridge_warehouse_polls_total", warehouse=code)
        cb_ok = value("orderbridge_warehouse_callbacks_total", warehouse=code, result="ok")
        timed = value("orderbridge_warehouse_push_duration_seconds_count", warehouse=code)
        want = {
            "pushes + polls": (pushes + polls, st["requests"]),
            "accepted pushes": (accepted, st["created"] + st["duplicates"]
                                - st["resets_after_create"] - st["garbage_after_create"]),
            "callbacks ok": (cb_ok, st["cb_ok"]),
            "push_duration_seconds_count": (timed, pushes),
        }
        for what, (got, expected) in want.items():
            if got != expected:
                problems.append(f"{code}: {what}: /metrics says {got:g}, expected {expected:g}")
        print(f"{code:10} pushes {pushes:6.0f} (accepted {accepted:6.0f}) polls {polls:6.0f} "
              f"callbacks ok {cb_ok:6.0f} | simulator: requests {st['requests']}, created "
              f"{st['created']}, callbacks ok {st['cb_ok']}")
        checked += 1

    total_accepted = value("orderbridge_accepted_total")
    per_warehouse = value("orderbridge_warehouse_pushes_total", outcome="accepted")
    if total_accepted != per_warehouse:
        problems.append(f"orderbridge_accepted_total {total_accepted:g} != the warehouses' "
                        f"accepted pushes {per_warehouse:g}")
    print(f"{len(families)} metric families parsed, {sum(len(v) for v in samples.values())} "
          f"samples, {checked} warehouses checked")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
