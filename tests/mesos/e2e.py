#!/usr/bin/env python3
"""The module pair inside a real Mesos: master, agent, our modules, a
revocable framework.

Starts a real mesos-master and mesos-agent (Mesos 1.11.0 from
../shared/mesos) on 127.0.0.1 with free ports, their own work and runtime
directories and their own --cgroups_root, loads libserenity_mesos.so with
the shipped pipelines, and drives it with tests/mesos/scheduler.py. Every
check prints `PASS: name`, `FAIL: name: why` or `SKIP: name: why`; the last
line is `mesos: N passed, M failed, K skipped`. Everything started is
stopped by PID and removed at the end, whatever happened.

  e2e.py --mesos ROOT --module LIB --serenity BIN [--keep DIR]

Needs root (cgroups isolators) and cgroup v1 cpu and memory hierarchies.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import base64

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scheduler import Scheduler, SchedulerError, scalar  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRINCIPAL, SECRET = "serenity-operator", "not-a-real-secret"
ESTIMATOR_INTERVAL = 1  # --oversubscribed_resources_interval, seconds (default 15)
STEADY_SECS = 40.0  # how long the estimate is watched under steady load
MAX_CHANGES_PER_20S = 1  # defect 2's bound
KILL_BOUND_INTERVALS = 8  # QoS intervals from antagonist start to kill
OVERLOAD_LINE = 0.72 * 2  # qos.toml's overload threshold × the agent's cpus
QOS_INTERVAL = 2.0  # qos.toml's interval_secs: the QoS controller's pace


class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.figures = {}

    def check(self, name, ok, why=""):
        if ok:
            self.passed += 1
            print("PASS: %s%s" % (name, (" (%s)" % why) if why else ""), flush=True)
        else:
            self.failed += 1
            print("FAIL: %s: %s" % (name, why), flush=True)
        return ok

    def skip(self, name, why):
        self.skipped += 1
        print("SKIP: %s: %s" % (name, why), flush=True)

    def figure(self, name, value):
        self.figures[name] = value
        print("FIGURE: %s = %s" % (name, value), flush=True)

    def summary(self):
        print("mesos: %d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped),
              flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, auth=False, timeout=10):
    """(status, text) of one request; never raises for HTTP errors."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth:
        token = base64.b64encode(("%s:%s" % (PRINCIPAL, SECRET)).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def get_json(url, timeout=10):
    status, text = http("GET", url, timeout=timeout)
    if status != 200:
        raise RuntimeError("GET %s answered %d: %s" % (url, status, text[:300]))
    return json.loads(text)


def wait_until(predicate, timeout, interval=0.25):
    """Polls predicate() (exceptions count as False) until it returns a
    truthy value or the deadline passes; returns the last value."""
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - a server still starting
            value = None
        if value:
            return value
        time.sleep(interval)
    return value


class Process:
    """A server started by PID with its output in a file."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig; waits; SIGKILLs on timeout. Returns the exit status."""
        if self.alive():
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


# glog 0.6: "I20261201 08:59:37.492157 ..." (glog 0.4: "I1201 08:59:...").
GLOG_TIME = re.compile(r"^[IWEF](?:\d{4})?\d{4} (\d\d):(\d\d):(\d\d\.\d+)")


def glog_seconds(line):
    """Seconds since local midnight of a glog line, or None."""
    m = GLOG_TIME.match(line)
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def day_seconds(t):
    tm = time.localtime(t)
    return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec + (t % 1)


FORWARD = re.compile(r"Forwarding total oversubscribed resources (.*)$")
REV_CPUS = re.compile(r"cpus[^:;]*\{REV\}:([0-9.]+)")


def forwarded(log_text):
    """[(day seconds, revocable cpus)] of every estimate the agent forwarded."""
    out = []
    for line in log_text.splitlines():
        m = FORWARD.search(line)
        if m:
            cpus = sum(float(x) for x in REV_CPUS.findall(m.group(1)))
            out.append((glog_seconds(line), cpus))
    return out


def cgroup_v1_ready():
    for c in ("cpu", "cpuacct", "memory", "freezer"):
        if not os.path.isfile("/sys/fs/cgroup/%s/cgroup.procs" % c):
            return "no cgroup v1 %s hierarchy at /sys/fs/cgroup/%s" % (c, c)
    return None


def ensure_perf_event_mount():
    path = "/sys/fs/cgroup/perf_event"
    if os.path.isfile(path + "/cgroup.procs"):
        return None
    try:
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", "perf_event", "cgroup", path],
                       check=True, capture_output=True)
        return None
    except (OSError, subprocess.CalledProcessError) as e:
        return "cannot mount the perf_event hierarchy: %s" % e


def remove_cgroups(root_name):
    """Kills what is left in our --cgroups_root and removes the groups."""
    for hierarchy in sorted(os.listdir("/sys/fs/cgroup")):
        top = os.path.join("/sys/fs/cgroup", hierarchy, root_name)
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in os.walk(top):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            except OSError:
                pass
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            for _ in range(20):
                try:
                    os.rmdir(dirpath)
                    break
                except OSError:
                    time.sleep(0.1)


def write_pipelines(work, cgroups_root):
    """The shipped pipelines, the QoS one with a [probe] table whose prefix
    is the agent's --cgroups_root."""
    est = os.path.join(REPO, "pipelines", "estimator.toml")
    qos = os.path.join(work, "qos-probe.toml")
    with open(os.path.join(REPO, "pipelines", "qos.toml")) as f:
        text = f.read()
    text += ('\n# Added by tests/mesos/e2e.py: the module\'s own perf counters.\n'
             '[probe]\nperf = true\ncgroup_root = "/sys/fs/cgroup"\nprefix = "%s"\n'
             'perf_interval_secs = 1.0\n' % cgroups_root)
    with open(qos, "w") as f:
        f.write(text)
    return est, qos


def modules_json(path, module, est, qos, est_overrides, qos_overrides):
    def params(pipeline, overrides):
        return [{"key": "pipeline", "value": pipeline}] + [
            {"key": "override", "value": o} for o in overrides]

    doc = {"libraries": [{"file": module, "modules": [
        {"name": "org_serenity_rs_SerenityEstimator", "parameters": params(est, est_overrides)},
        {"name": "org_serenity_rs_SerenityQoSController",
         "parameters": params(qos, qos_overrides)},
    ]}]}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path


class Cluster:
    """One master and one agent."""

    def __init__(self, args, work, cgroups_root, modules, tag, extra_agent_flags=()):
        self.args = args
        self.work = work
        self.master_port = free_port()
        self.agent_port = free_port()
        self.master_url = "http://127.0.0.1:%d" % self.master_port
        self.agent_url = "http://127.0.0.1:%d" % self.agent_port
        mesos = args.mesos
        os.makedirs(os.path.join(work, tag), exist_ok=True)
        creds = os.path.join(work, "credentials.json")
        with open(creds, "w") as f:
            json.dump({"credentials": [{"principal": PRINCIPAL, "secret": SECRET}]}, f)
        self.master = Process("master", [
            os.path.join(mesos, "sbin", "mesos-master"), "--ip=127.0.0.1",
            "--port=%d" % self.master_port, "--hostname=127.0.0.1",
            "--work_dir=%s" % os.path.join(work, tag, "master"), "--registry=in_memory",
            "--allocation_interval=500ms",
        ], os.path.join(work, tag, "master.log"))
        self.agent_argv = [
            os.path.join(mesos, "sbin", "mesos-agent"),
            "--master=127.0.0.1:%d" % self.master_port, "--ip=127.0.0.1",
            "--port=%d" % self.agent_port, "--hostname=127.0.0.1",
            "--work_dir=%s" % os.path.join(work, tag, "agent"),
            "--runtime_dir=%s" % os.path.join(work, tag, "run"),
            "--launcher_dir=%s" % os.path.join(mesos, "libexec", "mesos"),
            "--isolation=cgroups/cpu,cgroups/mem,cgroups/perf_event",
            "--cgroups_root=%s" % cgroups_root,
            "--resources=cpus:2;mem:2048;disk:2048;ports:[31000-31099]",
            "--modules=file://%s" % modules,
            "--resource_estimator=org_serenity_rs_SerenityEstimator",
            "--qos_controller=org_serenity_rs_SerenityQoSController",
            "--oversubscribed_resources_interval=%dsecs" % ESTIMATOR_INTERVAL,
            "--qos_correction_interval_min=0secs",
            "--no-systemd_enable_support",
            "--authenticate_http_readwrite",
            "--http_credentials=%s" % creds,
            "--executor_registration_timeout=2mins",
        ] + list(extra_agent_flags)
        self.agent = Process("agent", self.agent_argv, os.path.join(work, tag, "agent.log"))

    def registered(self):
        slaves = get_json(self.master_url + "/slaves", timeout=5).get("slaves", [])
        return len(slaves) == 1 and slaves[0].get("active", True)

    def metrics(self):
        return get_json(self.agent_url + "/metrics/snapshot", timeout=5)

    def master_metrics(self):
        return get_json(self.master_url + "/metrics/snapshot", timeout=5)

    def stop(self):
        for p in (self.agent, self.master):
            try:
                p.stop(signal.SIGTERM)
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass


def executor_usage(record_out, since):
    """[(epoch seconds, Σ CPU usage of the agent's executors)] between the
    records of the recorded trace after `since` (epoch seconds)."""
    previous, series = {}, []
    try:
        lines = open(record_out).read().splitlines()
    except OSError:
        return series
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        total, latest = 0.0, None
        for e in rec.get("executors", []):
            stats = e.get("statistics") or {}
            key = e.get("executor_info", {}).get("executor_id", {}).get("value")
            t = stats.get("timestamp")
            secs = stats.get("cpus_user_time_secs", 0.0) + stats.get("cpus_system_time_secs", 0.0)
            if key in previous and t and t > previous[key][0] and t >= since:
                total += (secs - previous[key][1]) / (t - previous[key][0])
                latest = t if latest is None else max(latest, t)
            if t:
                previous[key] = (t, secs)
        if latest is not None:
            series.append((latest, total))
    return series


def serenity_metrics(snapshot):
    return {k: v for k, v in snapshot.items() if k.startswith("serenity/")}


def run_main(args, res, work, cgroups_root):
    est, qos = write_pipelines(work, cgroups_root)
    est_overrides = ["ignore_new_executors.threshold_secs=6"]
    modules = modules_json(os.path.join(work, "modules.json"), args.module, est, qos,
                           est_overrides, [])
    record_out = os.path.join(work, "recorded.jsonl")
    cluster = Cluster(args, work, cgroups_root, modules, "main")
    sched = None
    recorder = None
    hints = None
    try:
        up = wait_until(cluster.registered, 90)
        if not res.check("agent with both modules registers with the master", bool(up),
                         "" if up else "agent exited" if not cluster.agent.alive()
                         else "not registered in 90 s"):
            print(cluster.agent.text()[-4000:])
            return
        log = cluster.agent.text()
        loaded = [l for l in log.splitlines()
                  if re.search(r"\] (serenity: |Serenity )", l)
                  or ("Successfully loaded" in l and "serenity" in l)]
        res.check("both modules load (library, estimator, QoS controller)",
                  "Serenity QoS controller: ticks at most every" in log
                  and "org_serenity_rs_SerenityEstimator" in log
                  and "org_serenity_rs_SerenityQoSController" in log,
                  "; ".join(l[l.find("]") + 1:].strip() for l in loaded[:4]))
        res.figure("module load lines", [l[l.find("]") + 2:] for l in loaded[:6]])

        names = sorted(serenity_metrics(cluster.metrics()))
        res.check("all 12 serenity/* metrics are in the agent's /metrics/snapshot",
                  len(names) == 12, "%d: %s" % (len(names), ", ".join(names)))

        recorder = subprocess.Popen(
            [args.serenity, "record", "--agent", cluster.agent_url, "--interval", "1s",
             "--duration", "10m", "--out", record_out],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "record.log"), "wb"))

        sched = Scheduler("127.0.0.1:%d" % cluster.master_port, log=print)
        sched.subscribe(timeout=30)
        offers = sched.take_offers(lambda o: scalar(o, "cpus", False) >= 1.5
                                   and scalar(o, "mem", False) >= 256, 30,
                                   "offers of 1.5 non-revocable cpus")
        sched.launch(offers, "prod", "exec stress-ng --cpu 1 --cpu-load 40 --timeout 900s",
                     cpus=1.5, mem=256)
        sched.wait_state("prod", ("TASK_RUNNING",), 60)
        prod_running = time.time()
        sched.decline_all(0.5)

        # --- slack reaches the master -------------------------------------
        def agreed():
            slack = cluster.metrics().get("serenity/estimator/slack_cpus", 0.0)
            master = cluster.master_metrics().get("master/cpus_revocable_total", 0.0)
            if slack > 0 and abs(slack - master) <= 0.0011:
                return (round(slack, 3), round(master, 3))
            return None

        got = wait_until(agreed, 60, interval=0.5)
        if res.check("the master's revocable cpus equal the estimator's slack",
                     bool(got), "slack %s cpus, master cpus_revocable_total %s" % (
                         got if got else ("?", "?"))):
            res.figure("slack estimated vs master revocable total (cpus)", got)
            res.figure("seconds from production start to first revocable cpus",
                       round(time.time() - prod_running, 1))
        rev_offers = sched.take_offers(lambda o: scalar(o, "cpus", True) > 0, 30,
                                       "an offer with revocable cpus")
        offered = scalar(rev_offers, "cpus", True)
        slack_now = cluster.metrics().get("serenity/estimator/slack_cpus", 0.0)
        res.check("the framework is offered the revocable cpus the estimator estimated",
                  abs(offered - slack_now) <= 0.0011,
                  "offered %.3f cpus{REV}, estimated %.3f" % (offered, slack_now))
        res.figure("revocable cpus offered vs estimated", (round(offered, 3), round(slack_now, 3)))
        sched.give_back(rev_offers)  # for the antagonist

        # --- the node summary routes and the hints service ------------------
        hints = check_summary_routes(args, res, work, cluster)

        # --- a steady estimate (defect 2) -----------------------------------
        time.sleep(2 * ESTIMATOR_INTERVAL)
        t0 = time.time()
        samples = []
        while time.time() - t0 < STEADY_SECS:
            samples.append(cluster.master_metrics().get("master/cpus_revocable_total", 0.0))
            time.sleep(0.5)
        t1 = time.time()
        changes = [(t, c) for t, c in forwarded(cluster.agent.text())
                   if t is not None and day_seconds(t0) <= t <= day_seconds(t1)]
        allowed = int(STEADY_SECS / 20) * MAX_CHANGES_PER_20S
        res.check("the estimate is stable under steady load",
                  len(changes) <= allowed,
                  "%d forwarded changes in %.0f s (at most %d), master saw %s" % (
                      len(changes), STEADY_SECS, allowed, sorted({round(x, 3) for x in samples})))
        res.figure("estimate changes per minute under steady load",
                   round(len(changes) * 60 / STEADY_SECS, 2))

        # --- the valve routes -------------------------------------------------
        ev = cluster.agent_url + "/serenity-estimator/valve"
        qv = cluster.agent_url + "/serenity-qos/valve"
        status, _ = http("GET", ev + "?enabled=false", auth=True)
        open_after = cluster.metrics().get("serenity/estimator/valve_open")
        res.check("GET never changes a valve (405)", status == 405 and open_after == 1,
                  "GET ?enabled=false answered %d, valve_open %s" % (status, open_after))
        status, _ = http("GET", qv + "?enabled=false", auth=True)
        res.check("GET on the QoS valve is refused too (405)", status == 405,
                  "answered %d" % status)
        status, _ = http("POST", ev, body="enabled=false")
        res.check("an unauthenticated valve request gets 401", status == 401,
                  "answered %d" % status)
        status, text = http("POST", ev, body="enabled=maybe", auth=True)
        s2, _ = http("POST", ev, body="%zz=%", auth=True)
        s3, _ = http("POST", ev, body="enabled=false&open=1", auth=True)
        s4, t4 = http("POST", ev, body="enabled=true&enabled=false", auth=True)
        res.check("a malformed valve body gets 400 with the library parser's reason",
                  status == 400 and s2 == 400 and s3 == 400 and s4 == 400
                  and "Unknown value 'maybe' of 'enabled'" in text and "given 2 times" in t4,
                  "enabled=maybe %d (%s), undecodable %d, unknown key %d, repeated %d (%s)"
                  % (status, text.strip()[:120], s2, s3, s4, t4.strip()[:120]))
        answers = [http("POST", ev, body="enabled=true", auth=True)[0] for _ in range(3)]
        res.check("authenticated POSTs work; opens of an open valve are idempotent",
                  answers == [200, 200, 200]
                  and cluster.metrics().get("serenity/estimator/valve_open") == 1,
                  "answers %s" % answers)
        status, text = http("POST", ev, body="enabled=false", auth=True)
        closed = wait_until(lambda: cluster.metrics().get("serenity/estimator/valve_open") == 0, 5)
        status2, text2 = http("POST", ev + "?enabled=true", auth=True)
        res.check("one authenticated close closes the valve after three opens; one open reopens",
                  status == 200 and bool(closed) and status2 == 200
                  and cluster.metrics().get("serenity/estimator/valve_open") == 1,
                  text.strip() + " / " + text2.strip())

        # --- the antagonist and the QoS controller --------------------------
        rev_offers = sched.take_offers(lambda o: scalar(o, "cpus", True) >= 0.5
                                       and scalar(o, "mem", False) >= 64, 60,
                                       "offers of 0.5 revocable cpus and 64 MB")
        sched.launch(rev_offers, "be", "exec stress-ng --cpu 2 --timeout 600s",
                     cpus=0.5, mem=64, revocable_cpus=True)
        sched.wait_state("be", ("TASK_RUNNING",), 60)
        be_started = time.time()
        held_seen = False
        operator_open_kept_hold = None
        trace = []  # (time, valve_open, estimator ticks, slack_cpus)
        deadline = be_started + 90
        while time.time() < deadline:
            m = cluster.metrics()
            trace.append((time.time(), m.get("serenity/estimator/valve_open"),
                          m.get("serenity/estimator/ticks"), m.get("serenity/estimator/slack_cpus")))
            if m.get("serenity/estimator/valve_open") == 0 and not held_seen:
                held_seen = True
                # The real agent's failure: an operator's open cancelled the
                # QoS controller's pause. Now it must not.
                http("POST", ev, body="enabled=true", auth=True)
                operator_open_kept_hold = cluster.metrics().get(
                    "serenity/estimator/valve_open") == 0
            st = sched.last_status("be")
            if st and st["state"] not in ("TASK_STARTING", "TASK_RUNNING", "TASK_STAGING"):
                # Sample on until the hold is released.
                if m.get("serenity/estimator/valve_open") == 1 or time.time() > deadline - 60:
                    break
            time.sleep(0.1)
        st = sched.last_status("be") or {}
        killed_after = st.get("_received", time.time()) - be_started
        killed = st.get("state") in ("TASK_LOST", "TASK_KILLED", "TASK_GONE")
        usage = executor_usage(record_out, be_started)
        peak = max((u for _, u in usage), default=None)
        over = [t for t, u in usage if u >= OVERLOAD_LINE]
        # The antagonist hurts from the moment the executors' usage crosses
        # the overload line; on a busy machine its low CPU shares delay that.
        hurt_from = min(over) if over else be_started
        kill_delay = st.get("_received", time.time()) - hurt_from
        if not killed and peak is not None and peak < OVERLOAD_LINE:
            # No interference happened: on a machine busy with other work the
            # best-effort task (low CPU shares) never got the CPU to hurt.
            for name in ("the QoS controller kills the best-effort task",
                         "the kill comes within %d correction intervals" % KILL_BOUND_INTERVALS,
                         "the QoS controller holds the estimator's valve while it corrects"):
                res.skip(name, "the executors never used more than %.2f cpus (the overload "
                         "line is %.2f): this machine is busy with other work" % (peak, OVERLOAD_LINE))
            interfered = False
        else:
            interfered = True
        if interfered:
            res.check("the QoS controller kills the best-effort task with the preemption reason",
                      st.get("state") in ("TASK_LOST", "TASK_KILLED", "TASK_GONE")
                      and st.get("reason") == "REASON_CONTAINER_PREEMPTED",
                      "%s %s after %.1f s: %s" % (st.get("state"), st.get("reason"), killed_after,
                                                  st.get("message", "")))
            res.check("the kill comes within %d correction intervals" % KILL_BOUND_INTERVALS,
                      kill_delay <= KILL_BOUND_INTERVALS * QOS_INTERVAL,
                      "%.1f s from the executors' usage crossing %.2f cpus to the kill's status "
                      "update (%.1f s from TASK_RUNNING)" % (kill_delay, OVERLOAD_LINE, killed_after))
            res.figure("seconds from antagonist start (TASK_RUNNING) to kill update",
                       round(killed_after, 1))
            res.figure("seconds from the overload line crossed to kill update", round(kill_delay, 1))
            res.check("the QoS controller holds the estimator's valve while it corrects",
                      held_seen, "valve_open samples: %s" % [t[1] for t in trace][-40:])
            held = [t for t in trace if t[1] == 0]
            ticked = [t for t in held if held and t[2] > held[0][2]]
            res.check("every estimate made while the valve is held is zero",
                      bool(ticked) and all(t[3] == 0 for t in ticked),
                      "%d samples held, %d after an estimator tick, their slack %s" % (
                          len(held), len(ticked), sorted({t[3] for t in ticked})))
            res.check("an operator's open during the correction does not cancel the hold",
                      operator_open_kept_hold is True, "valve_open after the POST: %s" % (
                          "0" if operator_open_kept_hold else "1 or unseen"))

        # Estimates forwarded while the controller corrected.
        time.sleep(3 * ESTIMATOR_INTERVAL)
        log = cluster.agent.text()
        if not interfered:
            paused_at = None
        paused_at = released_at = None
        for line in log.splitlines():
            if "the estimator is paused" in line and paused_at is None:
                paused_at = glog_seconds(line)
            elif "the estimator's hold is released" in line and paused_at is not None:
                released_at = glog_seconds(line)
                break
        if not interfered:
            res.skip("no revocable cpus are forwarded while the QoS controller corrects",
                     "no interference happened (above)")
        elif paused_at is None:
            res.check("no revocable cpus are forwarded while the QoS controller corrects", False,
                      "no 'the estimator is paused' line in the agent log")
        else:
            end = released_at if released_at is not None else day_seconds(time.time())
            during = [(t, c) for t, c in forwarded(log) if paused_at < t <= end]
            estimates = [l for l in log.splitlines() if "Serenity estimator: new estimate" in l]
            nonzero_during = [l for l in estimates
                              if paused_at < (glog_seconds(l) or 0) <= end and " 0.000 cpus" not in l]
            be_alloc = 0.6  # the task's 0.5 cpus{REV} + the command executor's 0.1
            over = [(t, c) for t, c in during if c > be_alloc + 0.0011]
            res.check("no revocable cpus are forwarded while the QoS controller corrects",
                      not over and not nonzero_during and len(estimates) > 0,
                      "hold %.1f s; %d forwarded totals in it %s (best-effort allocation %.1f); "
                      "%d non-zero estimates in it" % (end - paused_at, len(during),
                                                       [c for _, c in during], be_alloc,
                                                       len(nonzero_during)))

        prod = sched.states("prod")
        res.check("the production task is never killed",
                  prod and all(s in ("TASK_STARTING", "TASK_RUNNING") for s in prod)
                  and sched.last_status("prod")["state"] == "TASK_RUNNING",
                  "states %s" % prod)

        if interfered:
            check_summary_after_kill(res, cluster, hints)
        else:
            res.skip("the summary counts the QoS controller's kill, and the hints service "
                     "polled it", "no interference happened (above)")

        # --- the module's own perf counters ---------------------------------
        opened = [l for l in log.splitlines() if "perf counters open on its perf_event group" in l]
        under_root = [l for l in opened if "/%s/" % cgroups_root in l]
        res.check("the [probe] table's counters find the containers' cgroups under --cgroups_root",
                  len(under_root) >= 1,
                  "%d line(s): %s" % (len(under_root), under_root[:1]))
        per_container = {}
        for l in opened:
            m = re.search(r"container (\S+): perf counters open", l)
            if m:
                per_container[m.group(1)] = per_container.get(m.group(1), 0) + 1
        res.check("... and says so once per container",
                  per_container and all(n == 1 for n in per_container.values()),
                  "%s" % per_container)

        # --- record vs live ------------------------------------------------
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=20)
        recorder = None
        compare_record(args, res, work, record_out, est, qos, est_overrides, log, t1)

        sched.teardown()
        sched = None
        wait_until(lambda: not cluster.metrics().get("slave/executors_running"), 30)
        rc = cluster.agent.stop(signal.SIGUSR1, timeout=60)
        text = cluster.agent.text()
        res.check("the agent stops cleanly on SIGUSR1 (modules unloaded, no crash)",
                  "Received SIGUSR1" in text and "SIGSEGV" not in text and "Aborted" not in text
                  and rc is not None and rc >= 0,
                  "exit status %s" % rc)
    finally:
        if recorder is not None:
            recorder.kill()
        if hints is not None:
            hints.stop()
        if sched is not None:
            sched.teardown()
        cluster.stop()


def check_summary_routes(args, res, work, cluster):
    """Both modules serve the process's node summary at /<module>/summary;
    starts `serenity hints` polling it through the QoS module's prefix and
    returns that process (its URL in .url)."""
    routes = {m: cluster.agent_url + "/serenity-%s/summary" % m for m in ("estimator", "qos")}

    def agreed():
        est = get_json(routes["estimator"])
        slack = cluster.metrics().get("serenity/estimator/slack_cpus")
        if est.get("slack") and abs(est["slack"]["cpus"] - slack) <= 0.0011:
            return est, get_json(routes["qos"]), slack
        return None

    got = wait_until(agreed, 10, interval=0.5)
    est, qos, slack = got if got else (None, None, None)
    res.check("both modules serve one node summary whose slack is the estimator's",
              bool(got) and est["schema"] == 1 and qos["schema"] == 1
              and qos["ticks"] >= est["ticks"] > 0 and len(est["valves"]) == 2
              and est["valve_open"] and est["age_secs"] is not None
              and est["age_secs"] < 2 * QOS_INTERVAL + 1,
              "estimator route %s; QoS route %s; estimator metric %s" % (
                  json.dumps(est)[:400], json.dumps(qos)[:200], slack))
    status, _ = http("POST", routes["qos"], body="x=1", auth=True)
    ctype = None
    try:
        with urllib.request.urlopen(routes["qos"], timeout=10) as r:
            ctype = r.headers.get("Content-Type")
    except OSError as e:
        ctype = "error: %s" % e
    res.check("/summary answers application/json to GET and 405 to POST",
              status == 405 and ctype == "application/json",
              "POST answered %d, GET's Content-Type %s" % (status, ctype))

    port = free_port()
    config = os.path.join(work, "hints.toml")
    with open(config, "w") as f:
        f.write('listen = "127.0.0.1:%d"\npoll_interval_secs = 0.5\ntimeout_secs = 2.0\n'
                'stale_after_secs = 10\n[filter]\nmin_slack_cpus = 0.1\n'
                '[[node]]\nname = "mesos-agent"\nurl = "%s/serenity-qos"\n'
                % (port, cluster.agent_url))
    hints = Process("hints", [args.serenity, "hints", "--config", config],
                    os.path.join(work, "hints.log"))
    hints.url = "http://127.0.0.1:%d" % port
    return hints


def check_summary_after_kill(res, cluster, hints):
    """After the QoS controller's kill: the summary counts it, with the
    detector that raised the contention as its reason, and the hints
    service, polling the agent's module route, sees the same."""
    summary = get_json(cluster.agent_url + "/serenity-qos/summary")
    window = summary["corrections"][1]  # the last 5 minutes: the whole run's kills
    kills = cluster.metrics().get("serenity/qos/corrections", 0)
    res.check("the node summary counts the QoS controller's kills per reason",
              window["total"] >= 1 and window["total"] == kills
              and all(r != "unattributed" for r in window["reasons"])
              and summary["interference"]["score"] > 0,
              "last 5 minutes %s, serenity/qos/corrections %s, interference %s" % (
                  window, kills, summary["interference"]))

    def polled():
        nodes = get_json(hints.url + "/nodes")
        node = nodes[0] if nodes else {}
        s = node.get("summary") or {}
        if s.get("corrections") and s["corrections"][1]["total"] >= 1:
            return node
        return None

    node = wait_until(polled, 15, interval=0.5)
    res.check("the hints service polls the Mesos agent's module route and sees the kill",
              bool(node) and node.get("last_error") is None,
              json.dumps(node)[:400] if node else "no summary with the kill in 15 s; "
              "hints log: %s" % hints.text()[-800:])


def compare_record(args, res, work, record_out, est, qos, est_overrides, live_log, steady_end):
    """Replays the recorded trace through the same pipelines and compares
    its decisions with what the live modules logged: the estimate in force
    at the end of the steady window (before the valve tests, whose operator
    closes a trace cannot show), and the kill (which executor, when)."""
    lines = open(record_out).read().splitlines() if os.path.exists(record_out) else []
    if not res.check("serenity record wrote the real agent's usage", len(lines) >= 20,
                     "%d records" % len(lines)):
        return
    out = subprocess.run(
        [args.serenity, "replay", "-p", est, "-p", qos,
         "--set", "estimator:" + est_overrides[0], "--output", "jsonl", record_out],
        capture_output=True, text=True, timeout=120)
    if not res.check("the recorded trace replays through the same pipelines", out.returncode == 0,
                     out.stderr[-500:]):
        return
    with open(os.path.join(work, "replay.jsonl"), "w") as f:
        f.write(out.stdout)
    replay_kills = []  # (day seconds, executor)
    replay_slack = []  # (day seconds, cpus)
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        when = day_seconds(rec["timestamp"]) if rec.get("timestamp") else None
        for c in rec.get("corrections") or []:
            replay_kills.append((when, c.get("executor_id")))
        if rec.get("pipeline") == "estimator" and when is not None:
            replay_slack.append((when, (rec.get("slack") or {}).get("cpus", 0.0)))
    live_kills, live_slack = [], []
    for line in live_log.splitlines():
        m = re.search(r"Serenity QoS controller: killing executor (\S+)", line)
        if m:
            live_kills.append((glog_seconds(line), m.group(1)))
        m = re.search(r"Serenity estimator: new estimate: ([0-9.]+) cpus", line)
        if m:
            live_slack.append((glog_seconds(line), float(m.group(1))))

    def in_force(series, t):
        value = 0.0
        for when, cpus in series:
            if when <= t:
                value = cpus
        return value

    at = day_seconds(steady_end)
    live_before, replay_before = in_force(live_slack, at), in_force(replay_slack, at)
    res.check("replay's estimate under steady load matches the live estimator's",
              abs(live_before - replay_before) <= 0.1 + 1e-9,
              "live %.2f cpus, replay %.2f (within one hysteresis band, 0.1)" % (
                  live_before, replay_before))
    res.check("replay kills the executor the live QoS controller killed, and only it",
              bool(live_kills) and {e for _, e in live_kills} == {e for _, e in replay_kills},
              "live %s, replay %s" % (sorted({e for _, e in live_kills}),
                                      sorted({e for _, e in replay_kills})))
    lead = (live_kills[0][0] - replay_kills[0][0]) if live_kills and replay_kills else None
    res.figure("record vs live", {
        "records": len(lines),
        "estimate at the end of the steady window (live, replay)": (
            live_before, round(replay_before, 3)),
        "distinct estimates (live)": sorted({round(c, 3) for _, c in live_slack}),
        "distinct estimates (replay)": sorted({round(c, 3) for _, c in replay_slack}),
        "kills (live, replay)": ([e for _, e in live_kills], [e for _, e in replay_kills]),
        "replay's kill earlier than live by (s)": None if lead is None else round(lead, 1),
    })


def run_bad_override(args, res, work, cgroups_root):
    est, qos = write_pipelines(work, cgroups_root)
    modules = modules_json(os.path.join(work, "modules-bad.json"), args.module, est, qos,
                           ["slack.fraction=7"], [])
    cluster = Cluster(args, work, cgroups_root + "_bad", modules, "bad")
    try:
        cluster.agent.proc.wait(timeout=60)
        text = cluster.agent.text()
        res.check("a bad override fails module creation with a clear message, exit 1",
                  cluster.agent.proc.returncode == 1 and "fraction" in text
                  and "Failed to create the Serenity resource estimator" in text,
                  "exit %s; %s" % (cluster.agent.proc.returncode,
                                   [l for l in text.splitlines() if "fraction" in l][:1]))
    except subprocess.TimeoutExpired:
        res.check("a bad override fails module creation with a clear message, exit 1", False,
                  "the agent is still running after 60 s")
    finally:
        cluster.stop()
        remove_cgroups(cgroups_root + "_bad")


def run_sigterm(args, res, work, cgroups_root):
    est, qos = write_pipelines(work, cgroups_root)
    modules = modules_json(os.path.join(work, "modules-term.json"), args.module, est, qos, [], [])
    cluster = Cluster(args, work, cgroups_root + "_term", modules, "term")
    try:
        up = wait_until(cluster.registered, 90)
        ticks = wait_until(lambda: cluster.metrics().get("serenity/qos/ticks", 0) >= 2, 30)
        rc = cluster.agent.stop(signal.SIGTERM, timeout=60)
        text = cluster.agent.text()
        res.check("the agent stops cleanly on SIGTERM",
                  bool(up) and bool(ticks) and rc is not None and "SIGSEGV" not in text
                  and "terminate called" not in text,
                  "exit status %s" % rc)
    finally:
        cluster.stop()
        remove_cgroups(cgroups_root + "_term")


EXPORTS = {"org_serenity_rs_SerenityEstimator", "org_serenity_rs_SerenityQoSController"}


def check_library(args, res):
    """The built library exports exactly the two modules and every symbol
    resolves against the real libmesos (RTLD_NOW, as the agent opens it)."""
    nm = subprocess.run(["nm", "-D", "--defined-only", args.module],
                        capture_output=True, text=True)
    exported = {f[2] for f in (l.split() for l in nm.stdout.splitlines())
                if len(f) == 3 and f[1].isupper()}
    res.check("libserenity_mesos.so exports only the two module symbols",
              nm.returncode == 0 and exported == EXPORTS,
              "exported: %s" % (sorted(exported) or nm.stderr.strip()))
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(args.mesos, "lib"))
    probe = ("import ctypes, os, sys\n"
             "lib = ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW | os.RTLD_GLOBAL)\n"
             "[getattr(lib, s) for s in sys.argv[2:]]\n")
    out = subprocess.run([sys.executable, "-c", probe, args.module] + sorted(EXPORTS),
                         capture_output=True, text=True, env=env)
    res.check("every symbol of the library resolves against the real libmesos (RTLD_NOW)",
              out.returncode == 0, out.stderr.strip()[-400:] or "dlopen RTLD_NOW ok")


def check_module_only_build(args, res, work):
    """What an operator building only the modules does: no GoogleTest, one
    Rust build (the shipped library, never serenity-ffi-testing), C++14,
    and an installed modules.json naming the chosen prefix."""
    build = os.path.join(work, "module-only")
    prefix = os.path.join(work, "prefix")
    configure = subprocess.run(
        ["cmake", "-S", REPO, "-B", build, "-DMESOS_ROOT=" + args.mesos,
         "-DCMAKE_BUILD_TYPE=Release", "-DSERENITY_TESTS=OFF",
         "-DCMAKE_DISABLE_FIND_PACKAGE_GTest=TRUE", "-DCMAKE_INSTALL_PREFIX=" + prefix],
        capture_output=True, text=True)
    if not res.check("a module-only build configures without GoogleTest", configure.returncode == 0,
                     (configure.stderr or configure.stdout)[-600:]):
        return
    built = subprocess.run(["cmake", "--build", build, "--target", "serenity_mesos", "-j2"],
                           capture_output=True, text=True)
    cargo_lines = [l.strip() for l in built.stdout.splitlines() if "cargo build" in l]
    flags = open(os.path.join(build, "cpp_shim", "CMakeFiles", "serenity_mesos.dir",
                              "flags.make")).read() if built.returncode == 0 else ""
    res.check("the module target builds only the shipped Rust library, with C++14 or later",
              built.returncode == 0 and cargo_lines and all("test-stages" not in l and "serenity-ffi-testing" not in l for l in cargo_lines)
              and re.search(r"-std=(c|gnu)\+\+(14|17|20)", flags) is not None,
              "%s; %s" % (cargo_lines, re.findall(r"-std=\S+", flags))
              if built.returncode == 0 else built.stdout[-600:] + built.stderr[-600:])
    installed = subprocess.run(["cmake", "--install", build], capture_output=True, text=True)
    manifest = os.path.join(prefix, "share", "serenity", "modules.json")
    try:
        doc = json.load(open(manifest))
        lib = doc["libraries"][0]["file"]
        pipelines = [p["value"] for m in doc["libraries"][0]["modules"] for p in m["parameters"]
                     if p["key"] == "pipeline"]
        ok = (installed.returncode == 0 and lib.startswith(prefix) and os.path.isfile(lib)
              and pipelines and all(p.startswith(prefix) and os.path.isfile(p) for p in pipelines))
        why = "file %s, pipelines %s" % (lib, pipelines)
    except (OSError, ValueError, KeyError, IndexError) as e:
        ok, why = False, "%s: %s %s" % (manifest, e, installed.stderr[-300:])
    res.check("the installed modules.json names the library and pipelines under the prefix",
              ok, why)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesos", required=True, help="Mesos root (install.sh's last line)")
    ap.add_argument("--module", required=True, help="libserenity_mesos.so")
    ap.add_argument("--serenity", required=True, help="the serenity binary")
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    args = ap.parse_args()
    res = Results()
    check_library(args, res)

    why = None
    if os.geteuid() != 0:
        why = "not root: the agent's cgroups isolators need root"
    else:
        why = cgroup_v1_ready() or ensure_perf_event_mount()
    if why:
        res.skip("real Mesos end-to-end", why)
        res.summary()
        return 0

    work = args.keep or tempfile.mkdtemp(prefix="serenity-mesos-")
    os.makedirs(work, exist_ok=True)
    cgroups_root = "serenity_e2e_%d" % os.getpid()
    try:
        check_module_only_build(args, res, work)
        run_main(args, res, work, cgroups_root)
        run_bad_override(args, res, work, cgroups_root)
        run_sigterm(args, res, work, cgroups_root)
    except (SchedulerError, RuntimeError, OSError, subprocess.SubprocessError) as e:
        res.check("the real-Mesos test ran to its end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        remove_cgroups(cgroups_root)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        with open(os.path.join(tempfile.gettempdir(), "serenity-mesos-figures.json"), "w") as f:
            json.dump(res.figures, f, indent=1, default=str)
    res.summary()
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
