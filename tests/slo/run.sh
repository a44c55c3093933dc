#!/usr/bin/env bash
# The closed-loop SLO suite (issue 10, part 4): memcached in a production
# cgroup under an open-loop load, stress-ng in a best-effort cgroup, and three
# controllers on the same short schedule: none, the kill-only qos-cusum.toml
# agent, and the SLO controller (tests/slo/agent-slo.toml.in, when present).
#
#   bash tests/slo/run.sh SERENITY_BIN SERENITY_LOADGEN_BIN
#
# Needs root, cgroup v1, memcached (installed with apt-get when missing) and
# stress-ng; without them it prints one `SKIP: slo: <reason>`. Every check
# prints `PASS: name: figures` or `FAIL: name: why`; the last line is
# `slo: N passed, M failed, K skipped`; the exit status is 0 iff M = 0.
# About 3.3 minutes. SERENITY_SLO_KEEP=1 keeps the bench's work directory
# (logs, rendered configs, JSON lines) and prints where it is.
set -uo pipefail

# --- thresholds (edit here) -------------------------------------------------
# The schedule: short enough for CI (the whole suite under 3 minutes).
QUIET_SECS=8            # calibration: quiet p99, SLO = 3 x quiet p99
LEAD_SECS=3             # load (and agent) before the antagonist starts
MAIN_SECS=40            # main phase: 4 windows of 10 s
ANTAGONIST=cpu          # cpu | cache | stream | mix | kind:offset,...
RATE=3000               # requests/s
# No controller: the antagonist must really hurt. Judged only when the
# calibration was clean: this VM's own quiet p99 swings (0.4-4 ms with
# nothing else running), and a noisy calibration puts the SLO (3 x quiet p99)
# above what the antagonist does; the check is then a named `SKIP part:`.
# How much it hurts varies from run to run on this VM (p99 median 0.8-2.7 ms
# against a quiet 0.5 ms), so the check is that it raises the p99 at all.
NONE_MIN_P99_RATIO=1.3          # p99 median without a controller / quiet p99
CLEAN_QUIET_P99_MS=0.8          # a calibration at or below this is clean
# Kill-only controller.
CUSUM_MIN_KILLS=1               # it kills best-effort at least this often
# SLO controller (applied when tests/slo/agent-slo.toml.in exists). Sized for
# a noisy 2-core VM and 4 windows: at most 1 window over (the full-length
# figures of docs/benchmarks.md are the real target, <= 1 %). Judged only
# when the quiet run just before it (the same load, no antagonist, no
# controller: the host's floor) met the same bound: on this VM memcached
# alone misses the SLO in 22-100 % of windows depending on the hour, and
# a controller cannot beat the floor; the check is then a named `SKIP part:`
# with both sets of figures.
SLO_MAX_FRACTION_OVER=0.25      # at most this share of 10-s windows over the SLO
SLO_MIN_BE_SHARE_OF_IDLE=0.50   # best-effort gets this share of the CPU production leaves idle
SLO_FEWER_KILLS_THAN_CUSUM=1    # 1: strictly fewer kills than the cusum run
# Sanity of every run.
MIN_SENT_FRACTION=0.95          # the load kept its schedule (sent / (rate x seconds))
MAX_ERROR_FRACTION=0.01         # errors + timeouts / sent
MAX_QUIET_P99_MS=20             # a quiet p99 above this means the bench is broken
MAX_OTHER_CPUS=0.3              # with --no-shield only: CPUs of other work on the node (the
                                # agent included); more makes the figures meaningless. The
                                # default shield (cpu.shares) keeps other work out of the way.
# -----------------------------------------------------------------------------

here=$(cd "$(dirname "$0")" && pwd)
serenity=${1:-}
loadgen=${2:-}

passed=0 failed=0 skipped=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
summary() {
  echo "slo: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}
skip_all() {
  echo "SKIP: slo: $1"
  skipped=$((skipped + 1))
  summary
}

# --- preconditions -------------------------------------------------------------
for b in "$serenity" "$loadgen"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then
    fail "binaries: '$b' is not an executable (usage: run.sh SERENITY_BIN SERENITY_LOADGEN_BIN)"
    summary
  fi
done
[ "$(id -u)" = 0 ] || skip_all "needs root to create cgroups (euid $(id -u))"
[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] ||
  skip_all "needs cgroup v1 (/sys/fs/cgroup is a cgroup2 mount)"
for c in cpu cpuacct memory freezer; do
  [ -f "/sys/fs/cgroup/$c/cgroup.procs" ] || skip_all "the cgroup v1 $c hierarchy is not mounted"
done
command -v python3 >/dev/null || skip_all "python3 is not installed"
if ! command -v memcached >/dev/null; then
  echo "installing Debian's memcached (apt-get) ..."
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends memcached ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends memcached; }; } >/tmp/serenity-slo-apt.log 2>&1
  # The package starts its own memcached on 11211; the bench starts its own.
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    systemctl disable --now memcached.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/memcached ]; then
    /etc/init.d/memcached stop >/dev/null 2>&1 || true
  fi
  command -v memcached >/dev/null ||
    skip_all "memcached is not installed and apt-get could not install it ($(tail -1 /tmp/serenity-slo-apt.log))"
fi
command -v stress-ng >/dev/null || skip_all "stress-ng is not installed"

export PYTHONDONTWRITEBYTECODE=1
if out=$(cd "$here" && python3 -m unittest discover -s . -p 'test_*.py' 2>&1); then
  pass "bench unit tests: $(grep -Eo 'Ran [0-9]+ tests?' <<<"$out")"
else
  fail "bench unit tests: $(tail -5 <<<"$out" | tr '\n' ' ')"
fi

controllers=none,cusum
have_slo=""
if [ -f "$here/agent-slo.toml.in" ]; then
  controllers=none,cusum,quiet,slo   # quiet just before slo: the floor it is judged against
  have_slo=1
fi

# --- the bench -------------------------------------------------------------------
prefix=serenity-slo-ci-$$
work=$(mktemp -d /tmp/serenity-slo-suite.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "closed loop: controllers $controllers, $ANTAGONIST antagonist, ${QUIET_SECS}s quiet + ${MAIN_SECS}s main each, $RATE req/s"
python3 "$here/closed_loop.py" --serenity "$serenity" --loadgen "$loadgen" \
  --controllers "$controllers" --antagonist "$ANTAGONIST" --rate "$RATE" \
  --quiet "$QUIET_SECS" --lead "$LEAD_SECS" --duration "$MAIN_SECS" \
  --prefix "$prefix" --json "$work/report.json" ${SERENITY_SLO_KEEP:+--keep} \
  2> >(tee "$work/bench.err" >&2)
status=$?
wait
if [ $status -ne 0 ]; then
  fail "bench ran: closed_loop.py exited with status $status: $(grep '^error' "$work/bench.err" | tail -3 | tr '\n' ' ')"
else
  pass "bench ran: $controllers"
fi

left=""
for g in /sys/fs/cgroup/*/"$prefix"-*; do
  [ -e "$g" ] && left+="$g "
done
if [ -z "$left" ]; then
  pass "cleanup: no $prefix-* cgroup is left in any hierarchy"
else
  fail "cleanup: cgroups left behind: $left"
fi

if [ ! -f "$work/report.json" ]; then
  fail "report: closed_loop.py wrote no report"
  summary
fi

# --- checks on the figures -------------------------------------------------------
export NONE_MIN_P99_RATIO CLEAN_QUIET_P99_MS CUSUM_MIN_KILLS SLO_MAX_FRACTION_OVER SLO_MIN_BE_SHARE_OF_IDLE \
  SLO_FEWER_KILLS_THAN_CUSUM MIN_SENT_FRACTION MAX_ERROR_FRACTION MAX_QUIET_P99_MS MAX_OTHER_CPUS \
  have_slo
python3 - "$work/report.json" >"$work/checks.out" <<'EOF'
import json, os, sys

r = json.load(open(sys.argv[1]))
env = lambda k: float(os.environ[k])
cal = r["calibration"]
runs = {x["controller"]: x for x in r["runs"]}
shielded = r.get("cpu_shares") is not None

def check(name, ok, figures):
    print(("PASS: " if ok else "FAIL: ") + f"{name}: {figures}")

def pct(v):
    return "-" if v is None else f"{100 * v:.0f} %"

q = cal["quiet_p99_ms"]
check("calibration", 0 < q <= env("MAX_QUIET_P99_MS") and not cal["errors"] and not cal["timeouts"]
      and (shielded or cal["other_cpus"] <= env("MAX_OTHER_CPUS")),
      f"quiet p99 {q:.3f} ms, SLO {cal['slo_ms']} ms ({cal['slo_source']}), "
      f"{cal['errors']} errors, {cal['timeouts']} timeouts, {cal['other_cpus']:.2f} CPUs of "
      f"other work on the node" + ("" if shielded else f" (at most {env('MAX_OTHER_CPUS')})"))

for name, x in runs.items():
    expect_windows = int(r["duration"] // r["window_secs"])
    sent_frac = x["sent"] / (r["rate"] * x["main_secs"]) if x["main_secs"] else 0
    bad = x["errors"] + x["timeouts"]
    parts = x["best_effort_cpus"] + x["production_cpus"] + x["loadgen_cpus"]
    problems = []
    if x["windows_total"] < expect_windows:
        problems.append(f"{x['windows_total']} windows of 10 s, wanted {expect_windows}")
    if sent_frac < env("MIN_SENT_FRACTION"):
        problems.append(f"the load sent {pct(sent_frac)} of its schedule")
    if x["sent"] and bad / x["sent"] > env("MAX_ERROR_FRACTION"):
        problems.append(f"{bad} errors and timeouts of {x['sent']} requests")
    if not 0 < x["production_cpus"] <= 1.05:
        problems.append(f"production used {x['production_cpus']} CPUs with a quota of 1")
    if not 0 <= x["best_effort_cpus"] <= r["node_cpus"] + 0.05:
        problems.append(f"best-effort used {x['best_effort_cpus']} CPUs")
    if parts > x["node_busy_cpus"] + 0.1:
        problems.append(f"the parts ({parts:.2f} CPUs) exceed the node's busy CPUs "
                        f"({x['node_busy_cpus']:.2f})")
    if not shielded and x["other_cpus"] > env("MAX_OTHER_CPUS"):
        problems.append(f"{x['other_cpus']:.2f} CPUs of other work on the node (at most "
                        f"{env('MAX_OTHER_CPUS')}): the figures are not comparable")
    check(f"{name}: measurements sane", not problems, "; ".join(problems) or
          f"{x['windows_total']} windows, sent {pct(sent_frac)} of schedule, "
          f"{x['errors']} errors, {x['timeouts']} timeouts; production {x['production_cpus']:.2f}, "
          f"best-effort {x['best_effort_cpus']:.2f}, loadgen {x['loadgen_cpus']:.2f}, "
          f"node busy {x['node_busy_cpus']:.2f} CPUs")

def figures(x):
    return (f"{x['windows_over']} of {x['windows_total']} windows over the SLO "
            f"(p99 median {x['p99_ms_median']} ms, max {x['p99_ms_max']} ms), best-effort "
            f"{x['best_effort_cpus']:.2f} CPUs = {pct(x['best_effort_share_of_idle'])} of the "
            f"{x['idle_left_cpus']:.2f} idle, {x['kills']} kills")

if "none" in runs:
    x = runs["none"]
    if q <= env("CLEAN_QUIET_P99_MS"):
        ratio = (x["p99_ms_median"] or 0) / q
        check("none: the antagonist hurts the service", ratio >= env("NONE_MIN_P99_RATIO"),
              figures(x) + f"; p99 median {ratio:.2f} x the quiet p99 (wanted at least "
              f"{env('NONE_MIN_P99_RATIO')} x)")
    else:
        print(f"SKIP part: none: the antagonist hurts the service: the calibration was noisy (quiet "
              f"p99 {q:.3f} ms > {env('CLEAN_QUIET_P99_MS')} ms), so the SLO ({cal['slo_ms']} ms) "
              f"says nothing about the antagonist; measured: " + figures(x))
else:
    print("FAIL: none: no run")
if "cusum" in runs:
    x = runs["cusum"]
    check("cusum: kills best-effort", x["kills"] >= env("CUSUM_MIN_KILLS"),
          figures(x) + f"; agent kill corrections {x['agent_kill_corrections']}")
else:
    print("FAIL: cusum: no run")
if os.environ.get("have_slo"):
    if "slo" not in runs:
        print("FAIL: slo: no run")
    else:
        x = runs["slo"]
        none_over = (runs["none"]["fraction_over"] or 0) if "none" in runs else None
        floor = runs.get("quiet")
        floor_over = (floor["fraction_over"] or 0) if floor else None
        if floor_over is not None and floor_over > env("SLO_MAX_FRACTION_OVER"):
            for name in ("slo: windows over the SLO", "slo: best-effort share of idle CPU"):
                print(f"SKIP part: {name}: the host's floor was over the bound itself (quiet run, "
                      f"no antagonist, no controller: {floor['windows_over']} of "
                      f"{floor['windows_total']} windows over, p99 median "
                      f"{floor['p99_ms_median']} ms), so the SLO controller cannot be judged "
                      f"against it; measured: " + figures(x))
        else:
            check("slo: windows over the SLO",
                  (x["fraction_over"] or 0) <= env("SLO_MAX_FRACTION_OVER"),
                  figures(x) + f" (wanted at most {pct(env('SLO_MAX_FRACTION_OVER'))}; without "
                  f"a controller: {pct(none_over)}; the quiet floor: {pct(floor_over)})")
            share = x["best_effort_share_of_idle"] or 0
            check("slo: best-effort share of idle CPU", share >= env("SLO_MIN_BE_SHARE_OF_IDLE"),
                  figures(x) + f" (wanted at least {pct(env('SLO_MIN_BE_SHARE_OF_IDLE'))})")
        if env("SLO_FEWER_KILLS_THAN_CUSUM") and "cusum" in runs:
            c = runs["cusum"]["kills"]
            check("slo: fewer kills than cusum", x["kills"] < c,
                  f"{x['kills']} kills against cusum's {c}")
EOF
pyrc=$?
while IFS= read -r line; do
  case $line in
    PASS:\ *) pass "${line#PASS: }" ;;
    FAIL:\ *) fail "${line#FAIL: }" ;;
    SKIP\ part:\ *) echo "$line"; skipped=$((skipped + 1)) ;;
    *) echo "$line" ;;
  esac
done <"$work/checks.out"
[ $pyrc -eq 0 ] || fail "checks: the report could not be checked (python exited with $pyrc)"
if [ -z "$have_slo" ]; then
  echo "SKIP part: slo controller: template not present"
  skipped=$((skipped + 1))
fi
summary
