#!/usr/bin/env python3
"""Helpers of tests/prometheus/run.sh (standard library only).

  dashboard.py query PROM_URL EXPR
      One instant query: prints one "labels value" line per series (a
      scalar as "scalar value"), or "error: ..." when the API answers an
      error.

  dashboard.py dashboard PROM_URL DASHBOARD_JSON SCRAPE CPP_DIR [DOC]
      Checks the Grafana dashboard: it parses; every panel has a unique id,
      a title, a description and at least one PromQL target, and is
      described in DOC (default docs/grafana.md next to the dashboard's
      directory); every expression (and every template variable's query)
      names only metrics the agent exports (the `# TYPE` lines of SCRAPE, a
      scrape of its /metrics) or the Mesos modules export (the
      "serenity/..." names registered in CPP_DIR/*.cpp, as an exporter of
      /metrics/snapshot names them: `mesos_` + the key with `/` -> `_`);
      every such metric is shown by some panel; and every expression,
      with Grafana's variables substituted, is answered by the live
      Prometheus without error (and, when it names only agent metrics,
      with at least one series). Prints PASS/FAIL lines.
"""

import json
import math
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# Grafana's variables, as a query over a short test run would see them.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "5s",
    "$__range": "1m",
    "${instance}": ".*",
    "$instance": ".*",
    "${mesos_instance}": ".*",
    "$mesos_instance": ".*",
}

# Metrics that are not the agent's or the modules' but may appear.
PROMETHEUS_OWN = {"up"}


def query(prom, expr):
    url = prom.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return "error", f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return "error", str(e)
    if body.get("status") != "success":
        return "error", f"{body.get('errorType')}: {body.get('error')}"
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return "ok", [("scalar", data["result"][1])]
    rows = []
    for series in data["result"]:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(series["metric"].items()))
        value = series["value"][1] if "value" in series else series["values"][-1][1]
        rows.append(("{" + labels + "}", value))
    return "ok", rows


def cmd_query(prom, expr):
    status, result = query(prom, expr)
    if status == "error":
        print(f"error: {result}")
        return 0
    for labels, value in result:
        print(f"{labels} {value}")
    return 0


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)


def metric_names(expr):
    """Identifiers of the expression that name a metric of ours."""
    text = strip_strings(expr)
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables
    words = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)
    return {w for w in words if w.startswith(("serenity_", "mesos_")) or w in PROMETHEUS_OWN}


def panels_of(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        for inner in p.get("panels", []):
            yield inner


def cmd_dashboard(prom, path, scrape, cpp_dir, doc=None):
    ok = True

    def fail(name, why):
        nonlocal ok
        ok = False
        print(f"FAIL {name}: {why}")

    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        fail("dashboard JSON parses", f"{path}: {e}")
        return 1

    with open(scrape, encoding="utf-8") as f:
        agent = {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", f.read(), re.M)}
    modules = set()
    for name in sorted(os.listdir(cpp_dir)):
        if name.endswith(".cpp"):
            with open(os.path.join(cpp_dir, name), encoding="utf-8") as f:
                for m in re.finditer(r'"(serenity/[a-z_]+/[a-z_]+)"', f.read()):
                    modules.add("mesos_" + m.group(1).replace("/", "_"))
    if not agent:
        fail("agent metric names", f"no `# TYPE` line in the scrape {scrape}")
        return 1
    if len(modules) < 12:
        fail("module metric names", f"found only {sorted(modules)} in {cpp_dir}/*.cpp")
        return 1
    known = agent | modules | PROMETHEUS_OWN

    panels = [p for p in panels_of(dashboard) if p.get("type") != "row"]
    rows = [p for p in panels_of(dashboard) if p.get("type") == "row"]
    problems = []
    for key in ("title", "uid", "schemaVersion"):
        if key not in dashboard:
            problems.append(f"no top-level `{key}`")
    ids = [p.get("id") for p in panels_of(dashboard)]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids missing or repeated: {ids}")
    if problems:
        fail("dashboard JSON structure", "; ".join(problems))
    else:
        print(f"PASS dashboard JSON parses: {len(panels)} panels in {len(rows)} rows, uid {dashboard['uid']}")

    doc = doc or os.path.join(os.path.dirname(os.path.dirname(path)), "grafana.md")
    try:
        with open(doc, encoding="utf-8") as f:
            doc_text = f.read()
    except OSError as e:
        doc_text = ""
        fail("dashboard documented", f"{doc}: {e}")
    undocumented = [p.get("title") for p in panels if f"**{p.get('title')}**" not in doc_text]
    if doc_text and undocumented:
        fail("dashboard documented", f"panels without a **title** entry in {doc}: {undocumented}")
    elif doc_text:
        print(f"PASS dashboard documented: every panel title has an entry in {os.path.basename(doc)}")

    # Template variables name metrics too (label_values(metric, label)).
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        unknown = metric_names(q) - known
        if unknown or not metric_names(q):
            fail(f"dashboard variable {var.get('name')}", f"{q!r} names {sorted(unknown) or 'no metric of ours'}")
        else:
            print(f"PASS dashboard variable {var.get('name')}: {q}")

    shown = set()
    for p in panels:
        title = p.get("title") or f"panel {p.get('id')}"
        name = f"dashboard panel '{title}'"
        exprs = [t.get("expr", "") for t in p.get("targets", []) if t.get("expr")]
        if not exprs:
            fail(name, "no PromQL target")
            continue
        if not p.get("description"):
            fail(name, "no description")
            continue
        why = []
        series = 0
        for expr in exprs:
            names = metric_names(expr)
            shown |= names
            unknown = names - known
            if not names:
                why.append(f"{expr!r} names no metric of ours")
            if unknown:
                why.append(f"{expr!r} names metrics nothing exports: {sorted(unknown)}")
            live = expr
            for k, v in SUBSTITUTIONS.items():
                live = live.replace(k, v)
            if "$" in live:
                why.append(f"{expr!r}: an unknown Grafana variable is left: {live!r}")
                continue
            status, result = query(prom, live)
            if status == "error":
                why.append(f"Prometheus refused {live!r}: {result}")
            elif names <= agent | PROMETHEUS_OWN and not result:
                why.append(f"{live!r} has no series although the agent exports every metric it names")
            else:
                series += len(result)
                for _, value in result:
                    if value not in ("NaN",) and not math.isfinite(float(value)):
                        why.append(f"{live!r} answers {value}")
        if why:
            fail(name, "; ".join(why))
        else:
            where = "agent" if all(metric_names(e) <= agent | PROMETHEUS_OWN for e in exprs) else "Mesos modules (no Mesos here)"
            print(f"PASS {name}: {len(exprs)} expression(s) of the {where}, answered with {series} series")

    missing = sorted((agent | modules) - shown)
    if missing:
        fail("dashboard covers every metric", f"no panel shows {missing}")
    else:
        print(f"PASS dashboard covers every metric: {len(agent)} of the agent, {len(modules)} of the modules")
    return 0 if ok else 1


def main(argv):
    if len(argv) >= 3 and argv[0] == "query":
        return cmd_query(argv[1], argv[2])
    if len(argv) in (5, 6) and argv[0] == "dashboard":
        return cmd_dashboard(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
