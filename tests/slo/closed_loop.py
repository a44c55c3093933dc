#!/usr/bin/env python3
"""The closed-loop SLO test bench (issue 10, part 4).

A latency-critical service (memcached, 1 thread, 1 CPU of CFS quota) in a
production cgroup under an open-loop load (serenity-loadgen, outside both
groups); a batch queue of stress-ng jobs in a best-effort cgroup; optionally
`serenity agent --enforce` as the controller. The `quiet` run has no
controller and no batch queue: the same load on the same machine, the floor
any controller is judged against (on a shared VM the service alone can miss
a tight SLO). Two more reference runs have no agent either: `throttled` holds
the batch queue's group at the SLO controller's floor (a 0.05-CPU quota,
SCHED_IDLE), `frozen` keeps it frozen. Per controller run it measures
the fraction of 10-s windows whose p99 is over the SLO (1-s histograms of the
load generator merged bucket by bucket into 10-s windows), the CPUs each
party got, and how often the controller killed best-effort work.

    sudo python3 tests/slo/closed_loop.py --serenity target/debug/serenity \\
        --loadgen target/debug/serenity-loadgen --controllers none,cusum \\
        --json /tmp/slo.json

Timeline: create the groups, start memcached in production, calibrate (a
quiet phase; SLO = 3 x quiet p99 unless --slo-ms); then for each controller:
start the agent (rendered from tests/slo/agent-<controller>.toml.in), start
the load, after --lead seconds start the batch queue for --duration seconds,
stop the queue and the agent, let the load end. Every process is stopped by
PID and every group removed on exit, Ctrl-C and failure included.

Python 3.11 standard library only; needs root and cgroup v1.
"""

from __future__ import annotations

import argparse
import json
import re
import math
import os
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Hierarchies the groups are made in: the first four are required.
REQUIRED_CONTROLLERS = ("cpu", "cpuacct", "memory", "freezer")
OPTIONAL_CONTROLLERS = ("cpuset", "perf_event")
CLK_TCK = os.sysconf("SC_CLK_TCK")
# cpu.shares of production and best-effort (see Cgroups.create): equal, as
# with the default 1024 each, but 10 times any other process of the node.
SHIELD_SHARES = 10 * 1024
# cpu.shares of the load generator's group, the most cgroup v1 allows: the
# client stands for the service's remote callers, so its own scheduling
# delays must not be counted as the service's latency.
LOADGEN_SHARES = 262144
# The placeholders every agent template may use (string.Template).
PLACEHOLDERS = (
    "production", "best_effort", "sli_url", "slo_ms", "slo_s",
    "metrics_listen", "state_file", "pipelines", "cgroup_root", "work",
    "quiet_p99_ms",
)
# The reference runs: no agent. `quiet` runs no batch queue; `throttled` runs
# it with the best-effort parent held where the SLO controller's revoke puts it
# (FLOOR_CPUS of CFS quota and cpu.idle = 1, as agent-slo.toml.in's
# [allowance] floor); `frozen` runs it with the parent frozen throughout.
# Together they tell a floor that hurts by itself from a controller that acts
# too late.
REFERENCE_RUNS = ("quiet", "throttled", "frozen")
FLOOR_CPUS = 0.05
CONTROLLERS = ("quiet", "throttled", "frozen", "none", "cusum", "slo", "slo-dry")
ANTAGONISTS = {
    "cpu": ["--cpu", "2"],
    "cache": ["--cache", "2"],
    "stream": ["--stream", "1"],
}


class BenchError(Exception):
    """A step of the bench failed; the message says which and why."""


def log(msg: str) -> None:
    print(f"[slo] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


# --- cgroups -------------------------------------------------------------


class Cgroups:
    """The run's groups in every hierarchy, removed on close."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.production_parent = f"{prefix}-production"
        self.best_effort_parent = f"{prefix}-best-effort"
        self.production = f"{self.production_parent}/memcached"
        self.best_effort = f"{self.best_effort_parent}/antagonist"
        # The load generator's own group: outside production and best-effort
        # (the agent never sees it), only in cpu and cpuacct.
        self.loadgen = f"{prefix}-loadgen"
        self.controllers: list[str] = []
        self.made: list[Path] = []
        for c in REQUIRED_CONTROLLERS:
            if not (CGROUP_ROOT / c / "cgroup.procs").is_file():
                raise BenchError(
                    f"the cgroup v1 {c} hierarchy is not mounted at {CGROUP_ROOT / c}")
            self.controllers.append(c)
        for c in OPTIONAL_CONTROLLERS:
            if (CGROUP_ROOT / c / "cgroup.procs").is_file():
                self.controllers.append(c)

    def path(self, controller: str, group: str) -> Path:
        return CGROUP_ROOT / controller / group

    def _mkdir(self, controller: str, group: str) -> Path:
        p = self.path(controller, group)
        try:
            p.mkdir()
        except OSError as e:
            raise BenchError(f"cannot create cgroup {p}: {e}") from e
        self.made.append(p)
        if controller == "cpuset":
            # A cpuset group takes no task before it has CPUs and memory
            # nodes: inherit the parent's.
            for f in ("cpuset.cpus", "cpuset.mems"):
                self.write(p / f, (p.parent / f).read_text().strip())
        return p

    def create(self, shield_shares: int | None) -> None:
        """Makes the groups. The load generator's gets LOADGEN_SHARES; with
        `shield_shares`, production and best-effort get that many cpu.shares
        each: equal between them (they compete exactly as with the default
        1024 each) but above any other process of the node (1024 each), so
        other work on the machine barely disturbs the measurement."""
        for group in (self.production_parent, self.production,
                      self.best_effort_parent, self.best_effort):
            for c in self.controllers:
                self._mkdir(c, group)
        for c in ("cpu", "cpuacct"):
            self._mkdir(c, self.loadgen)
        self.write(self.path("cpu", self.loadgen) / "cpu.shares", str(LOADGEN_SHARES))
        if shield_shares:
            for group in (self.production_parent, self.best_effort_parent):
                self.write(self.path("cpu", group) / "cpu.shares", str(shield_shares))

    def loadgen_attach_paths(self) -> list[Path]:
        return [self.path(c, self.loadgen) / "cgroup.procs" for c in ("cpu", "cpuacct")]

    @staticmethod
    def write(path: Path, value: str) -> None:
        try:
            path.write_text(value)
        except OSError as e:
            raise BenchError(f"cannot write {value!r} to {path}: {e}") from e

    def hold(self, how: str) -> None:
        """Holds the best-effort parent for a reference run: `throttled` (a
        FLOOR_CPUS CFS quota and, where the kernel has it, cpu.idle = 1) or
        `frozen` (freezer.state FROZEN, waiting until the kernel says so)."""
        cpu = self.path("cpu", self.best_effort_parent)
        if how == "throttled":
            period = int((cpu / "cpu.cfs_period_us").read_text())
            self.write(cpu / "cpu.cfs_quota_us", str(max(1000, int(FLOOR_CPUS * period))))
            if (cpu / "cpu.idle").is_file():
                self.write(cpu / "cpu.idle", "1")
        elif how == "frozen":
            state = self.path("freezer", self.best_effort_parent) / "freezer.state"
            self.write(state, "FROZEN")
            deadline = time.monotonic() + 5
            while state.read_text().strip() != "FROZEN":
                if time.monotonic() > deadline:
                    raise BenchError(f"{state} did not reach FROZEN within 5 s "
                                     f"({state.read_text().strip()})")
                time.sleep(0.01)

    def release(self) -> None:
        """Undoes `hold`: no quota, cpu.idle 0, thawed."""
        cpu = self.path("cpu", self.best_effort_parent)
        self.write(cpu / "cpu.cfs_quota_us", "-1")
        if (cpu / "cpu.idle").is_file():
            self.write(cpu / "cpu.idle", "0")
        self.write(self.path("freezer", self.best_effort_parent) / "freezer.state", "THAWED")

    def attach_paths(self, group: str) -> list[Path]:
        return [self.path(c, group) / "cgroup.procs" for c in self.controllers]

    def procs(self, group: str) -> list[int]:
        try:
            text = (self.path("cpuacct", group) / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(x) for x in text.split()]

    def usage_ns(self, group: str) -> int:
        p = self.path("cpuacct", group) / "cpuacct.usage"
        try:
            return int(p.read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"cannot read {p}: {e}") from e

    def empty(self, group: str) -> None:
        """Thaws the group and SIGKILLs whatever runs in it (only our own
        children can be there)."""
        if "freezer" in self.controllers:
            f = self.path("freezer", group) / "freezer.state"
            try:
                if f.exists():
                    f.write_text("THAWED")
            except OSError:
                pass
        for _ in range(20):
            pids = self.procs(group)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def close(self) -> list[str]:
        """Removes every group made, deepest first; the problems left."""
        for group in (self.best_effort, self.production, self.loadgen):
            self.empty(group)
        problems = []
        for p in reversed(self.made):
            for attempt in range(20):
                try:
                    p.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if attempt == 19:
                        problems.append(f"cannot remove cgroup {p}: {e}")
                    time.sleep(0.1)
        self.made.clear()
        return problems


def attach_self(paths: list[Path]):
    """A preexec_fn that moves the child into the groups before exec."""
    def attach():
        pid = str(os.getpid())
        for p in paths:
            with open(p, "w") as f:
                f.write(pid)
    return attach


# --- processes -----------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 5) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return " | ".join(lines[-n:])

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to its process group (its own session), then SIGKILL."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=5)


class Processes:
    """Every process the bench started, stopped by PID on close."""

    def __init__(self):
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], log_path: Path,
              groups: list[Path] | None = None, cwd: Path | None = None) -> Proc:
        out = open(log_path, "ab")
        try:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=cwd,
                preexec_fn=attach_self(groups) if groups else None)
        except (OSError, subprocess.SubprocessError) as e:
            raise BenchError(f"cannot start {name} ({argv[0]}): {e}") from e
        finally:
            out.close()
        p = Proc(name, popen, log_path)
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # cleanup goes on
                log(f"could not stop {p.name} (pid {p.pid}): {e}")
        self.procs.clear()


# --- load generator output -------------------------------------------------


def read_windows(path: Path) -> tuple[list[dict], dict | None]:
    windows, summary = [], None
    if not path.exists():
        return windows, summary
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("kind") == "window":
            windows.append(d)
        elif d.get("kind") == "summary":
            summary = d
    return windows, summary


def merged_quantile(windows: list[dict], q: float) -> float | None:
    """The nearest-rank q quantile (ms) of the windows' merged histograms:
    the midpoint of the bucket holding rank ceil(q n)."""
    buckets: dict[tuple[int, int], int] = {}
    for w in windows:
        for lo, hi, c in w["hist_ns"]:
            buckets[(lo, hi)] = buckets.get((lo, hi), 0) + c
    n = sum(buckets.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for (lo, hi) in sorted(buckets):
        seen += buckets[(lo, hi)]
        if seen >= rank:
            return (lo + hi - 1) / 2 / 1e6
    return None


def ten_second_windows(windows: list[dict], start: float, end: float,
                       length: float) -> list[dict]:
    """Groups the 1-s windows lying in [start, end] into windows of `length`
    seconds (by their midpoints), each with its merged p99 and counts. A
    trailing group shorter than half a window is dropped."""
    groups: dict[int, list[dict]] = {}
    for w in windows:
        mid = (w["start"] + w["end"]) / 2
        if start <= mid < end:
            groups.setdefault(int((mid - start) // length), []).append(w)
    out = []
    for i in sorted(groups):
        ws = groups[i]
        covered = sum(w["end"] - w["start"] for w in ws)
        if covered < length / 2:
            continue
        out.append({
            "start": ws[0]["start"], "end": ws[-1]["end"], "windows": len(ws),
            "samples": sum(w["samples"] for w in ws),
            "p99_ms": rnd(merged_quantile(ws, 0.99)),
            "sent": sum(w["sent"] for w in ws),
            "errors": sum(w["errors"] for w in ws),
            "timeouts": sum(w["timeouts"] for w in ws),
        })
    return out


# --- CPU accounting --------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def node_busy_seconds() -> float:
    """CPU-seconds the whole node spent busy (not idle or iowait)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    v = [int(x) for x in first]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    # guest and guest_nice are already counted in user and nice.
    return (sum(v[:8]) - idle) / CLK_TCK


@dataclass
class CpuSnapshot:
    t: float
    production_ns: int
    best_effort_ns: int
    loadgen_s: float
    node_busy_s: float

    def cpus_since(self, b: "CpuSnapshot") -> dict[str, float]:
        """Mean CPUs of each party between snapshot `b` and this one;
        `other` is the node's busy time outside production, best-effort
        and the load generator (other work on the machine, the agent)."""
        dt = self.t - b.t
        d = {
            "production": (self.production_ns - b.production_ns) / 1e9 / dt,
            "best_effort": (self.best_effort_ns - b.best_effort_ns) / 1e9 / dt,
            "loadgen": (self.loadgen_s - b.loadgen_s) / dt,
            "node_busy": (self.node_busy_s - b.node_busy_s) / dt,
        }
        d["other"] = d["node_busy"] - d["production"] - d["best_effort"] - d["loadgen"]
        return d


def snapshot(cg: Cgroups, loadgen_pid: int) -> CpuSnapshot:
    return CpuSnapshot(time.monotonic(), cg.usage_ns(cg.production),
                       cg.usage_ns(cg.best_effort), proc_cpu_seconds(loadgen_pid),
                       node_busy_seconds())


# --- the batch queue -------------------------------------------------------


@dataclass
class BatchQueue:
    """Runs the schedule's stress-ng job in the best-effort group and, like a
    batch scheduler, resubmits it `backoff` seconds after it was killed. A
    kill is the job exiting while the queue did not stop it."""

    procs: Processes
    cg: Cgroups
    work: Path
    stress_ng: str
    schedule: list[tuple[float, str]]  # (start offset s, antagonist)
    backoff: float
    timeout_s: int
    job: Proc | None = None
    current: str | None = None
    resubmit_at: float | None = None
    kills: list[dict] = field(default_factory=list)
    submissions: int = 0
    start: float = 0.0

    def _submit(self, kind: str) -> None:
        argv = [self.stress_ng, *ANTAGONISTS[kind], "--timeout", f"{self.timeout_s}s",
                "--quiet"]
        self.job = self.procs.start(f"stress-ng {kind}", argv,
                                    self.work / "stress-ng.log",
                                    self.cg.attach_paths(self.cg.best_effort))
        self.current = kind
        self.submissions += 1
        self.resubmit_at = None

    def _stop_job(self) -> None:
        if self.job is not None:
            self.cg.empty(self.cg.best_effort)  # thaw first, then kill
            self.job.stop(grace=2)
            self.job = None

    def begin(self) -> None:
        self.start = time.monotonic()
        self._submit(self.schedule[0][1])

    def poll(self) -> None:
        now = time.monotonic()
        wanted = [k for off, k in self.schedule if now - self.start >= off][-1]
        if wanted != self.current:
            self._stop_job()
            self._submit(wanted)
            return
        if self.job is not None and not self.job.alive():
            rc = self.job.popen.returncode
            self.kills.append({"t": round(now - self.start, 2), "antagonist": self.current,
                               "returncode": rc})
            log(f"best-effort job stress-ng {self.current} (pid {self.job.pid}) died "
                f"(exit status {rc}) at +{now - self.start:.1f} s; resubmitting in "
                f"{self.backoff:g} s")
            self.cg.empty(self.cg.best_effort)
            self.job = None
            self.resubmit_at = now + self.backoff
        if self.job is None and self.resubmit_at is not None and now >= self.resubmit_at:
            self._submit(self.current)

    def end(self) -> None:
        self._stop_job()


def parse_schedule(spec: str, duration: float) -> list[tuple[float, str]]:
    """`cpu`, `cache`, `stream`, or `mix` (cpu, cache, stream in thirds), or
    an explicit `cpu:0,cache:30,stream:60` (offsets in seconds)."""
    if spec in ANTAGONISTS:
        return [(0.0, spec)]
    if spec == "mix":
        return [(0.0, "cpu"), (duration / 3, "cache"), (2 * duration / 3, "stream")]
    out = []
    for part in spec.split(","):
        kind, _, off = part.partition(":")
        if kind not in ANTAGONISTS:
            raise BenchError(f"--antagonist {spec}: unknown antagonist {kind!r} "
                             f"(cpu, cache, stream, mix or kind:offset,...)")
        try:
            out.append((float(off or 0), kind))
        except ValueError:
            raise BenchError(f"--antagonist {spec}: bad offset {off!r}") from None
    out.sort()
    if out[0][0] != 0:
        raise BenchError(f"--antagonist {spec}: the first job must start at offset 0")
    return out


# --- agent configuration -----------------------------------------------------


def render_shipped_pipeline(name: str, sli_url: str, slo_ms: float, out: Path) -> None:
    """Writes the shipped pipelines/<name> with its [[sli]] pointed at the
    bench: its `url` becomes the load generator's endpoint and its
    `objective` the bench's SLO (ms); everything else is the shipped file.
    Each key must appear exactly once in the file."""
    src = REPO / "pipelines" / name
    text = src.read_text()
    for key, value in (("url", f'"{sli_url}"'), ("objective", f"{slo_ms:g}")):
        pattern = re.compile(rf"^{key} = .*?(\s*#.*)?$", re.M)
        found = pattern.findall(text)
        if len(found) != 1:
            raise BenchError(f"{src}: expected one `{key} = ...` line (in its [[sli]] table), "
                             f"found {len(found)}")
        text = pattern.sub(lambda m: f"{key} = {value}{m.group(1) or ''}", text)
    out.write_text(f"# Rendered by tests/slo/closed_loop.py from {src}: [[sli]] url and "
                   f"objective point at the bench.\n" + text)


def render_template(template: Path, values: dict[str, str], out: Path) -> None:
    """Renders a string.Template agent configuration; any subset of
    PLACEHOLDERS may appear, any other `$name` is an error."""
    try:
        text = template.read_text()
    except OSError as e:
        raise BenchError(f"cannot read the agent template {template}: {e}") from e
    try:
        rendered = string.Template(text).substitute(values)
    except KeyError as e:
        raise BenchError(f"{template}: unknown placeholder ${{{e.args[0]}}} (known: "
                         f"{', '.join('${' + p + '}' for p in PLACEHOLDERS)})") from None
    except ValueError as e:
        raise BenchError(f"{template}: {e} (write $$ for a literal $)") from None
    out.write_text(rendered)


def agent_kill_corrections(metrics: str) -> int | None:
    """serenity_corrections_total{action="kill",mode="enforce"} of a scrape."""
    for line in metrics.splitlines():
        if line.startswith("serenity_corrections_total{") and 'action="kill"' in line \
                and 'mode="enforce"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


def all_corrections(metrics: str) -> dict[str, int]:
    out = {}
    for line in metrics.splitlines():
        if line.startswith("serenity_corrections_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len("serenity_corrections_total"):]] = int(float(value))
    return out


# --- the bench -------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.prefix = args.prefix or f"serenity-slo-{os.getpid()}-{int(time.time())}"
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.prefix}."))
        self.cg = Cgroups(self.prefix)
        self.procs = Processes()
        self.memcached_addr = ""
        self.memcached: Proc | None = None
        self.node_cpus = os.cpu_count() or 1

    # Setup and teardown -------------------------------------------------
    def setup(self) -> None:
        log(f"prefix {self.prefix}, work directory {self.work}, hierarchies "
            f"{', '.join(self.cg.controllers)}, cpu.shares "
            f"{'default' if self.args.no_shield else SHIELD_SHARES}")
        self.cg.create(None if self.args.no_shield else SHIELD_SHARES)
        cpu = self.cg.path("cpu", self.cg.production)
        period = (cpu / "cpu.cfs_period_us").read_text().strip()
        Cgroups.write(cpu / "cpu.cfs_quota_us", period)  # 1 CPU
        port = free_port()
        self.memcached_addr = f"127.0.0.1:{port}"
        argv = [self.args.memcached, "-t", "1", "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                "-m", "256", "-c", "1024"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        self.memcached = self.procs.start("memcached", argv, self.work / "memcached.log",
                                          self.cg.attach_paths(self.cg.production))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if not self.memcached.alive() or time.monotonic() > deadline:
                    raise BenchError(f"memcached did not listen on {self.memcached_addr}: "
                                     f"{self.memcached.log_tail()}") from None
                time.sleep(0.05)
        if self.memcached.pid not in self.cg.procs(self.cg.production):
            raise BenchError(f"memcached (pid {self.memcached.pid}) is not in cgroup "
                             f"{self.cg.production}")
        log(f"memcached pid {self.memcached.pid} on {self.memcached_addr} in "
            f"{self.cg.production} (cfs quota {period} of {period} us: 1 CPU)")

    def close(self) -> list[str]:
        self.procs.close()
        problems = self.cg.close()
        if not self.args.keep:
            import shutil
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log(f"kept {self.work}")
        return problems

    # Pieces -------------------------------------------------------------
    def loadgen(self, name: str, duration: float, port: int) -> tuple[Proc, Path]:
        out = self.work / f"{name}.jsonl"
        argv = [self.args.loadgen, "--server", self.memcached_addr,
                "--rate", str(self.args.rate), "--duration", f"{duration}s",
                "--window", "1s", "--connections", str(self.args.connections),
                "--seed", str(self.args.seed), "--listen", f"127.0.0.1:{port}",
                "--output", str(out), "--timeout", "1s"]
        p = self.procs.start(f"loadgen {name}", argv, self.work / f"{name}.loadgen.log",
                             self.cg.loadgen_attach_paths())
        return p, out

    def wait_loadgen(self, p: Proc, extra: float) -> None:
        try:
            p.popen.wait(timeout=extra)
        except subprocess.TimeoutExpired:
            raise BenchError(f"the load generator (pid {p.pid}) did not end "
                             f"{extra:g} s after its duration: {p.log_tail()}") from None
        if p.popen.returncode != 0:
            raise BenchError(f"the load generator failed (exit status "
                             f"{p.popen.returncode}): {p.log_tail()}")

    def calibrate(self) -> dict:
        secs = self.args.quiet
        log(f"calibration: {secs:g} s quiet at {self.args.rate:g} req/s")
        p, out = self.loadgen("quiet", secs, free_port())
        before = snapshot(self.cg, p.pid)
        time.sleep(max(0.0, secs - 1))
        after = snapshot(self.cg, p.pid)
        self.wait_loadgen(p, 30)
        windows, summary = read_windows(out)
        usable = windows[1:] if len(windows) > 2 else windows  # first second warms up
        p99 = merged_quantile(usable, 0.99)
        if p99 is None:
            raise BenchError(f"calibration measured no latency ({out})")
        slo = self.args.slo_ms if self.args.slo_ms else round(3 * p99, 3)
        cpus = after.cpus_since(before)
        return {"quiet_p99_ms": round(p99, 4),
                "quiet_p50_ms": round(merged_quantile(usable, 0.5), 4),
                "production_cpus": round(cpus["production"], 4),
                "loadgen_cpus": round(cpus["loadgen"], 4),
                "other_cpus": round(cpus["other"], 4),
                "slo_ms": slo, "slo_source": "--slo-ms" if self.args.slo_ms else "3 x quiet p99",
                "errors": summary["errors"] if summary else None,
                "timeouts": summary["timeouts"] if summary else None,
                "achieved_rate": summary["achieved_rate"] if summary else None}

    def start_agent(self, controller: str, sli_url: str, slo_ms: float,
                    quiet_p99_ms: float) -> tuple[Proc, str]:
        # slo-dry: the SLO agent observing only (no --enforce): what the
        # controller's own presence costs (ticks, SLI scrapes), without its
        # actions.
        enforce = controller != "slo-dry"
        controller = "slo" if controller == "slo-dry" else controller
        template = HERE / f"agent-{controller}.toml.in"
        if controller == "slo" and self.args.template:
            template = Path(self.args.template)
        port = free_port()
        listen = f"127.0.0.1:{port}"
        config = self.work / f"agent-{controller}.toml"
        values = {
            "production": self.cg.production_parent,
            "best_effort": self.cg.best_effort_parent,
            "sli_url": sli_url, "slo_ms": f"{slo_ms:g}", "slo_s": f"{slo_ms / 1e3:g}",
            "metrics_listen": listen,
            "state_file": str(self.work / f"agent-{controller}-state.json"),
            "pipelines": str(REPO / "pipelines"), "cgroup_root": str(CGROUP_ROOT),
            "work": str(self.work), "quiet_p99_ms": f"{quiet_p99_ms:g}",
        }
        if controller == "slo":
            for name in ("qos-slo.toml", "estimator-slo.toml"):
                render_shipped_pipeline(name, sli_url, slo_ms, self.work / name)
        render_template(template, values, config)
        argv = [self.args.serenity, "agent", "-v", "--config", str(config)]
        if enforce:
            argv.append("--enforce")
        p = self.procs.start(f"serenity agent ({controller})", argv,
                             self.work / f"agent-{controller}.log", cwd=self.work)
        url = f"http://{listen}/metrics"
        deadline = time.monotonic() + 15
        while True:
            try:
                if "serenity_ticks_total" in http_get(url, 1):
                    break
            except OSError:
                pass
            if not p.alive() or time.monotonic() > deadline:
                raise BenchError(f"serenity agent ({controller}, config {config}) did not "
                                 f"serve {url}: {p.log_tail(8)}")
            time.sleep(0.1)
        log(f"serenity agent ({controller}) pid {p.pid}, config {config}, metrics {url}")
        return p, url

    def run_controller(self, controller: str, cal: dict) -> dict:
        a = self.args
        log(f"--- controller {controller}: {a.duration:g} s of {a.antagonist} "
            f"(SLO {cal['slo_ms']} ms)")
        port = free_port()
        sli_url = f"http://127.0.0.1:{port}/metrics"
        agent, agent_url = (None, None)
        if controller not in ("none", *REFERENCE_RUNS):
            agent, agent_url = self.start_agent(controller, sli_url, cal["slo_ms"],
                                                cal["quiet_p99_ms"])
        if controller == "throttled":
            self.cg.hold("throttled")
        lg, out = self.loadgen(controller, a.lead + a.duration + 1, port)
        time.sleep(a.lead)
        queue = BatchQueue(self.procs, self.cg, self.work, a.stress_ng,
                           parse_schedule(a.antagonist, a.duration), a.backoff,
                           int(a.duration + a.lead + 60))
        batch = controller != "quiet"
        before = snapshot(self.cg, lg.pid)
        main_start = time.time()
        if batch:
            queue.begin()
        if controller == "frozen":
            self.cg.hold("frozen")
        deadline = time.monotonic() + a.duration
        while time.monotonic() < deadline:
            if batch:
                queue.poll()
            if agent is not None and not agent.alive():
                raise BenchError(f"serenity agent ({controller}) exited during the run "
                                 f"(status {agent.popen.returncode}): {agent.log_tail(8)}")
            if not self.memcached.alive():
                raise BenchError(f"memcached exited during the run: "
                                 f"{self.memcached.log_tail()}")
            time.sleep(0.1)
        after = snapshot(self.cg, lg.pid)
        main_end = time.time()
        agent_metrics = ""
        if agent is not None:
            try:
                agent_metrics = http_get(agent_url)
            except OSError as e:
                log(f"could not scrape the agent's metrics at {agent_url}: {e}")
            agent.stop(grace=10)
        if controller in ("throttled", "frozen"):
            self.cg.release()
        queue.end()
        self.wait_loadgen(lg, 10)
        windows, summary = read_windows(out)
        tens = ten_second_windows(windows, main_start, main_end, a.window_secs)
        over = [w for w in tens if w["p99_ms"] is not None and w["p99_ms"] > cal["slo_ms"]]
        dt = after.t - before.t
        cpus = after.cpus_since(before)
        prod, be, lgc = cpus["production"], cpus["best_effort"], cpus["loadgen"]
        node_busy = cpus["node_busy"]
        p99s = [w["p99_ms"] for w in tens if w["p99_ms"] is not None]
        idle = self.node_cpus - prod - lgc
        main_windows = [w for w in windows if main_start <= (w["start"] + w["end"]) / 2 < main_end]
        result = {
            "controller": controller,
            "windows_total": len(tens), "windows_over": len(over),
            "fraction_over": round(len(over) / len(tens), 4) if tens else None,
            "p99_ms_median": rnd(median(p99s)),
            "p99_ms_max": rnd(max(p99s, default=None)),
            "p99_ms_main": rnd(merged_quantile(main_windows, 0.99)),
            "best_effort_cpus": round(be, 4), "production_cpus": round(prod, 4),
            "loadgen_cpus": round(lgc, 4), "node_cpus": self.node_cpus,
            "node_busy_cpus": round(node_busy, 4), "other_cpus": round(cpus["other"], 4),
            "idle_left_cpus": round(idle, 4),
            "best_effort_share_of_idle": round(be / idle, 4) if idle > 0 else None,
            "kills": len(queue.kills), "kill_log": queue.kills,
            "submissions": queue.submissions,
            "agent_kill_corrections": agent_kill_corrections(agent_metrics)
            if agent is not None else None,
            "agent_corrections": all_corrections(agent_metrics) if agent is not None else None,
            "errors": sum(w["errors"] for w in main_windows),
            "timeouts": sum(w["timeouts"] for w in main_windows),
            "sent": sum(w["sent"] for w in main_windows),
            "achieved_rate": summary["achieved_rate"] if summary else None,
            "main_secs": round(dt, 2), "windows": tens,
        }
        log(f"controller {controller}: {len(over)}/{len(tens)} windows over, BE "
            f"{be:.2f} CPUs, {len(queue.kills)} kills")
        time.sleep(1)  # let the node settle between runs
        return result


def rnd(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


def median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def fmt(v, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per controller over all its rounds: windows and kills
    summed, CPUs averaged, p99 median and max over every 10-s window, the
    best-effort share as total best-effort CPU over total idle CPU."""
    out = []
    for c in dict.fromkeys(r["controller"] for r in runs):
        rs = [r for r in runs if r["controller"] == c]
        p99s = [w["p99_ms"] for r in rs for w in r["windows"] if w["p99_ms"] is not None]
        total = sum(r["windows_total"] for r in rs)
        over = sum(r["windows_over"] for r in rs)
        mean = lambda k: round(sum(r[k] for r in rs) / len(rs), 4)  # noqa: E731
        idle = sum(r["idle_left_cpus"] for r in rs)
        out.append({
            "controller": c, "rounds": len(rs),
            "windows_total": total, "windows_over": over,
            "fraction_over": round(over / total, 4) if total else None,
            "p99_ms_median": rnd(median(p99s)), "p99_ms_max": rnd(max(p99s, default=None)),
            "best_effort_cpus": mean("best_effort_cpus"),
            "production_cpus": mean("production_cpus"), "loadgen_cpus": mean("loadgen_cpus"),
            "other_cpus": mean("other_cpus"), "idle_left_cpus": mean("idle_left_cpus"),
            "best_effort_share_of_idle": round(sum(r["best_effort_cpus"] for r in rs) / idle, 4)
            if idle > 0 else None,
            "kills": sum(r["kills"] for r in rs), "errors": sum(r["errors"] for r in rs),
            "timeouts": sum(r["timeouts"] for r in rs),
        })
    return out


def table(report: dict) -> str:
    rows = [("controller", "over SLO", "p99 med", "p99 max", "BE cpus", "prod",
             "loadgen", "other", "idle left", "BE/idle", "kills", "err", "tmo")]
    for r in report.get("totals") or report["runs"]:
        rows.append((r["controller"], f"{r['windows_over']}/{r['windows_total']}",
                     fmt(r["p99_ms_median"], ".3f"), fmt(r["p99_ms_max"], ".3f"),
                     fmt(r["best_effort_cpus"]), fmt(r["production_cpus"]),
                     fmt(r["loadgen_cpus"]), fmt(r["other_cpus"]), fmt(r["idle_left_cpus"]),
                     fmt(r["best_effort_share_of_idle"], ".0%"), str(r["kills"]),
                     str(r["errors"]), str(r["timeouts"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    cal = report["calibration"]
    head = (f"quiet p99 {cal['quiet_p99_ms']:.3f} ms, SLO {cal['slo_ms']} ms "
            f"({cal['slo_source']}); {report['rate']:g} req/s; antagonist "
            f"{report['antagonist']}; {report['duration']:g} s main phase"
            f"{' x %d rounds' % report['rounds'] if report.get('rounds', 1) > 1 else ''}, "
            f"{report['window_secs']:g}-s windows (p99 in ms, CPUs as means; other = the "
            f"node's busy CPUs outside the three, {cal['other_cpus']:.2f} while calibrating)")
    return head + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serenity", help="the serenity binary (for --controllers cusum, slo)")
    ap.add_argument("--loadgen", required=True, help="the serenity-loadgen binary")
    ap.add_argument("--controllers", "--controller", default="none",
                    help="comma-separated runs: quiet (no antagonist: the floor), "
                         "throttled (the antagonist held at the SLO controller's floor, "
                         "0.05 CPU and SCHED_IDLE, no agent), frozen (the antagonist frozen, "
                         "no agent), none, cusum, slo, slo-dry (the SLO agent without "
                         "--enforce: its cost without its actions) (default none)")
    ap.add_argument("--antagonist", default="cpu",
                    help="cpu (stress-ng --cpu 2), cache (--cache 2), stream (--stream 1), "
                         "mix (thirds of cpu, cache, stream) or kind:offset,... (default cpu)")
    ap.add_argument("--duration", type=float, default=90, help="main phase, s (default 90)")
    ap.add_argument("--quiet", type=float, default=10, help="calibration phase, s (default 10)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the controllers in turn this many times (interleaved, so that "
                         "the host's slow spells fall on all of them); the table sums the "
                         "rounds (default 1)")
    ap.add_argument("--lead", type=float, default=5,
                    help="load before the antagonist starts, s (default 5)")
    ap.add_argument("--rate", type=float, default=3000, help="requests/s (default 3000)")
    ap.add_argument("--connections", type=int, default=4,
                    help="load generator connections (default 4)")
    ap.add_argument("--seed", type=int, default=1,
                    help="load generator seed (arrivals, keys; default 1)")
    ap.add_argument("--slo-ms", type=float, help="the SLO (default 3 x quiet p99)")
    ap.add_argument("--window-secs", type=float, default=10,
                    help="evaluation window, s (default 10)")
    ap.add_argument("--backoff", type=float, default=10,
                    help="batch queue resubmission delay after a kill, s (default 10)")
    ap.add_argument("--template", help="agent template for the slo controller "
                                       "(default tests/slo/agent-slo.toml.in)")
    ap.add_argument("--no-shield", action="store_true",
                    help="leave production and best-effort at the default cpu.shares (by "
                         f"default they get {SHIELD_SHARES} each, so other work on the node "
                         "barely disturbs them); the load generator always gets "
                         f"{LOADGEN_SHARES}")
    ap.add_argument("--memcached", default="memcached", help="the memcached binary")
    ap.add_argument("--stress-ng", default="stress-ng", help="the stress-ng binary")
    ap.add_argument("--prefix", help="cgroup name prefix (default serenity-slo-PID-TIME)")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args(argv)

    controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    if args.rounds < 1:
        print("error: --rounds must be at least 1", file=sys.stderr)
        return 2
    for c in controllers:
        if c not in CONTROLLERS:
            print(f"error: --controllers: unknown controller {c!r} ({', '.join(CONTROLLERS)})",
                  file=sys.stderr)
            return 2
    if any(c not in ("none", *REFERENCE_RUNS) for c in controllers) and not args.serenity:
        print("error: --serenity is needed for the cusum and slo controllers", file=sys.stderr)
        return 2
    if "slo" in controllers or "slo-dry" in controllers:
        t = Path(args.template) if args.template else HERE / "agent-slo.toml.in"
        if not t.is_file():
            print(f"error: the slo controller's template {t} does not exist", file=sys.stderr)
            return 2
    # A template with an unknown placeholder fails now, not after calibration.
    for c in controllers:
        if c in ("none", *REFERENCE_RUNS):
            continue
        c = "slo" if c == "slo-dry" else c
        t = Path(args.template) if c == "slo" and args.template else HERE / f"agent-{c}.toml.in"
        try:
            with tempfile.TemporaryDirectory() as d:
                render_template(t, {p: p for p in PLACEHOLDERS}, Path(d) / "check.toml")
        except BenchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("error: the bench needs root (cgroups)", file=sys.stderr)
        return 2
    for name in ("loadgen", "serenity"):
        v = getattr(args, name)
        if v:
            setattr(args, name, str(Path(v).resolve()))
    try:
        parse_schedule(args.antagonist, args.duration)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    # SIGTERM and SIGHUP unwind like Ctrl-C, so the finally block cleans up.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and
    # Python then leaves it so.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    bench = None
    status = 0
    report: dict = {}
    try:
        bench = Bench(args)
        bench.setup()
        cal = bench.calibrate()
        log(f"quiet p99 {cal['quiet_p99_ms']:.3f} ms -> SLO {cal['slo_ms']} ms")
        report = {"rate": args.rate, "antagonist": args.antagonist, "duration": args.duration,
                  "rounds": args.rounds,
                  "window_secs": args.window_secs, "backoff": args.backoff,
                  "node_cpus": bench.node_cpus, "prefix": bench.prefix,
                  "cpu_shares": None if args.no_shield else SHIELD_SHARES,
                  "loadgen_cpu_shares": LOADGEN_SHARES,
                  "calibration": cal, "runs": []}
        for round_ in range(args.rounds):
            for c in controllers:
                if args.rounds > 1:
                    log(f"=== round {round_ + 1} of {args.rounds}")
                run = bench.run_controller(c, cal)
                run["round"] = round_ + 1
                report["runs"].append(run)
        if args.rounds > 1:
            report["totals"] = aggregate(report["runs"])
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt as e:
        print(f"interrupted ({e or 'Ctrl-C'}): cleaning up", file=sys.stderr)
        status = 130
    finally:
        # A second signal must not cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if bench is not None:
            problems = bench.close()
            for p in problems:
                print(f"error: cleanup: {p}", file=sys.stderr)
            if problems and status == 0:
                status = 1
    if report.get("runs"):
        print(table(report))
    if args.json and report:
        report["complete"] = status == 0
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
