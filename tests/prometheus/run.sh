#!/usr/bin/env bash
# A real Prometheus scrapes a real `serenity agent`.
#
#   tests/prometheus/run.sh SERENITY_BIN
#
# As root: installs Debian's `prometheus` package if it is missing (and
# makes sure its packaged service neither runs nor is enabled: we start our
# own), creates cgroups for one production group running a busy loop and
# one best-effort group running `stress-ng --cpu 1` (a busy loop without
# stress-ng), starts `SERENITY_BIN agent` in dry run over them (own work
# directory and configuration, metrics on a free loopback port), checks its
# /metrics with `promtool check metrics`, starts Prometheus on another free
# loopback port with its own storage (1 s scrapes), then queries
# /api/v1/query for the agent's slack, contention and correction series
# and runs every PromQL expression of docs/grafana/serenity.json against it
# (tests/prometheus/dashboard.py). Without root every check is one SKIP.
#
# Every check prints `PASS name`, `FAIL name: why` or `SKIP name: why`; the
# last line is `prometheus: N passed, M failed, K skipped`; the exit status
# is 0 iff M = 0. Every process it starts is stopped by PID, and its groups
# and work directory are removed on exit. About 30 s after the install.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
serenity=${1:-}

passed=0 failed=0 skipped=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }
summary() {
  echo "prometheus: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}

# --- state removed on exit -------------------------------------------------
work="" pids=() groups=() policy_rc=""
stop_pid() { # TERM, up to 5 s, then KILL; only our own children
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  local i g p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  # Whatever is left inside our own groups (stress-ng workers) is ours.
  for g in "${groups[@]}"; do
    [ -f "$g/freezer.state" ] && echo THAWED >"$g/freezer.state" 2>/dev/null
    if [ -f "$g/cgroup.procs" ]; then
      for p in $(cat "$g/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    fi
  done
  sleep 0.2
  for ((i = ${#groups[@]} - 1; i >= 0; i--)); do
    rmdir "${groups[i]}" 2>/dev/null || { sleep 0.3; rmdir "${groups[i]}" 2>/dev/null; }
  done
  [ -n "$policy_rc" ] && rm -f "$policy_rc"
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- preconditions -----------------------------------------------------------
if [ -z "$serenity" ] || [ ! -x "$serenity" ]; then
  fail "serenity binary" "'$serenity' is not an executable (pass target/debug/serenity as argument 1)"
  summary
fi
serenity=$(cd "$(dirname "$serenity")" && pwd)/$(basename "$serenity")
if [ "$(id -u)" != 0 ]; then
  skip "prometheus scrape of a live agent" "needs root (to install prometheus and create cgroups; euid $(id -u))"
  summary
fi
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { fail "tools" "$tool is not installed"; summary; }
done

work=$(mktemp -d /tmp/serenity-prometheus.XXXXXX)

# --- Debian's prometheus, without its service -------------------------------
# The packaged service must not hold 127.0.0.1:9090 or start at boot. With
# systemd as PID 1 the postinst enables and starts it; otherwise it starts
# the sysvinit script through invoke-rc.d. A policy-rc.d that denies every
# action (exit 101) stops both during the install; afterwards the service is
# disabled and stopped whichever init runs.
stop_packaged_service() {
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus stop >/dev/null 2>&1
    command -v update-rc.d >/dev/null && update-rc.d prometheus disable >/dev/null 2>&1
  fi
  true
}
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy_rc=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod 755 "$policy_rc"
  fi
  echo "installing Debian's prometheus (apt-get) ..."
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends prometheus; } >"$work/apt.log" 2>&1; then
    fail "prometheus package installed" "apt-get failed: $(tail -3 "$work/apt.log" | tr '\n' ' ')"
    summary
  fi
  [ -n "$policy_rc" ] && rm -f "$policy_rc" && policy_rc=""
fi
stop_packaged_service
pass "prometheus package installed ($(dpkg-query -W -f='${Version}' prometheus 2>/dev/null || echo 'not from dpkg'))"
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  if systemctl is-active --quiet prometheus.service || systemctl is-enabled --quiet prometheus.service; then
    fail "packaged prometheus service stopped and disabled" "systemd: $(systemctl is-active prometheus.service) / $(systemctl is-enabled prometheus.service)"
  else
    pass "packaged prometheus service stopped and disabled (systemd)"
  fi
else
  enabled=$(ls /etc/rc[2-5].d/S*prometheus 2>/dev/null | tr '\n' ' ')
  if [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
    fail "packaged prometheus service stopped and disabled" "/etc/init.d/prometheus status: running"
  elif [ -n "$enabled" ]; then
    fail "packaged prometheus service stopped and disabled" "sysvinit start links: $enabled"
  else
    pass "packaged prometheus service stopped and disabled (no systemd: sysvinit links removed, nothing running)"
  fi
fi

# --- cgroups ----------------------------------------------------------------
name=serenity-prom-$$
cg=/sys/fs/cgroup
if [ "$(stat -fc %T "$cg" 2>/dev/null)" = cgroup2fs ]; then
  version=v2 hierarchies=("$cg")
else
  version=v1 hierarchies=()
  for c in cpu cpuacct memory freezer; do
    [ -f "$cg/$c/cgroup.procs" ] && hierarchies+=("$cg/$c")
  done
  if [ ${#hierarchies[@]} -lt 3 ]; then
    skip "prometheus scrape of a live agent" "needs the cgroup v1 cpu, cpuacct and memory hierarchies under $cg (found: ${hierarchies[*]:-none})"
    summary
  fi
fi
mkgroup() { # relative path, in every hierarchy
  local h
  for h in "${hierarchies[@]}"; do
    mkdir "$h/$1" || return 1
    groups+=("$h/$1")
  done
}
# Starts "$@" inside group $1 (attached before it runs), under a 5-minute
# timeout so nothing outlives a broken trap; prints its pid.
spawn_in() {
  local g=$1; shift
  (
    for h in "${hierarchies[@]}"; do echo "$BASHPID" >"$h/$g/cgroup.procs" || exit 1; done
    exec timeout 300 "$@"
  ) >/dev/null 2>&1 &
  pids+=($!)
}
if ! { mkgroup "$name" && mkgroup "$name/production" && mkgroup "$name/production/web" &&
  mkgroup "$name/best-effort" && mkgroup "$name/best-effort/batch"; }; then
  fail "cgroups created" "mkdir under ${hierarchies[*]} failed"
  summary
fi
spawn_in "$name/production/web" bash -c 'while :; do :; done'
web_pid=${pids[-1]}
if command -v stress-ng >/dev/null; then
  spawn_in "$name/best-effort/batch" stress-ng --cpu 1 --quiet
  antagonist="stress-ng --cpu 1"
else
  spawn_in "$name/best-effort/batch" bash -c 'while :; do :; done'
  antagonist="a busy loop (stress-ng is not installed)"
fi
batch_pid=${pids[-1]}
sleep 0.3
if kill -0 "$web_pid" 2>/dev/null && kill -0 "$batch_pid" 2>/dev/null &&
  grep -qx "$web_pid" "${hierarchies[0]}/$name/production/web/cgroup.procs" &&
  grep -qx "$batch_pid" "${hierarchies[0]}/$name/best-effort/batch/cgroup.procs"; then
  pass "cgroups ($version) $name: production/web runs a busy loop, best-effort/batch runs $antagonist"
else
  fail "cgroups created" "the busy processes did not start inside their groups"
  summary
fi

# --- the agent, dry run ------------------------------------------------------
# [total] cpus = 0.25: the two busy groups overload a quarter CPU whatever
# else the host runs, so qos-agent.toml's `overload` stage raises a
# contention within a few ticks and the dry run logs a correction.
# The estimator is the shipped one plus an [[sli]] read from a file, and the
# agent manages a best-effort allowance (dry run: tracked, never written),
# so that the SLI and allowance metrics have series for the dashboard.
echo 0.5 >"$work/web-p99-ms"
{ cat "$repo/pipelines/estimator.toml"
  printf '\n[[sli]]\nname = "web_p99"\nexecutors = ["web"]\nsource = "file"\npath = "%s"\nunit = "ms"\nobjective = 2.0\nmax_age_secs = 3600\n' "$work/web-p99-ms"
} >"$work/estimator-sli.toml"
cat >"$work/agent.toml" <<EOF
qos = "$repo/pipelines/qos-agent.toml"
estimator = "$work/estimator-sli.toml"
interval_secs = 1.0

[cgroups]
version = "$version"
root = "$cg"
production = ["$name/production"]
best_effort = "$name/best-effort"
perf = false
# Every cgroup file, not only those the pipelines' stages read: the
# dashboard's starvation panel shows signals qos-agent.toml does not read.
all_statistics = true

[total]
cpus = 0.25

[metrics]
listen = "127.0.0.1:0"

[enforcement]
action = "freeze"

[allowance]
cpus_floor = 0.05
mem_floor_mib = 64
mem_ceiling_mib = 256
EOF
(cd "$work" && exec "$serenity" agent -v --config "$work/agent.toml") >"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
agent_addr=""
for _ in $(seq 100); do
  agent_addr=$(grep -o 'metrics at http://[^/]*/metrics' "$work/agent.log" 2>/dev/null | head -1 | sed 's|metrics at http://||; s|/metrics||')
  [ -n "$agent_addr" ] && break
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$agent_addr" ]; then
  fail "agent started" "no metrics address in its log: $(tail -5 "$work/agent.log" | tr '\n' ' ')"
  summary
fi
case $agent_addr in
  127.0.0.1:*) pass "agent started in dry run, metrics at $agent_addr (pid $agent_pid)" ;;
  *) fail "agent started" "metrics listen on $agent_addr, not loopback" ;;
esac

# --- promtool check metrics on a scrape --------------------------------------
sleep 2.5 # three ticks: usage needs two samples
curl -fsS "http://$agent_addr/metrics" -o "$work/scrape.txt" 2>"$work/curl.err" ||
  fail "agent /metrics answers" "$(cat "$work/curl.err")"
if lint=$(promtool check metrics <"$work/scrape.txt" 2>&1); then
  if [ -z "$lint" ]; then
    pass "promtool check metrics: clean ($(grep -c '^# TYPE' "$work/scrape.txt") metric families)"
  else
    fail "promtool check metrics" "$(echo "$lint" | tr '\n' ' ')"
  fi
else
  fail "promtool check metrics" "$(echo "$lint" | tr '\n' ' ')"
fi

# --- Prometheus ----------------------------------------------------------------
prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: serenity-agent
    static_configs:
      - targets: ["$agent_addr"]
EOF
if ! promtool check config "$work/prometheus.yml" >"$work/promtool-config.log" 2>&1; then
  fail "prometheus configuration" "$(tr '\n' ' ' <"$work/promtool-config.log")"
  summary
fi
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")
prom=http://127.0.0.1:$prom_port
ready=""
for _ in $(seq 150); do
  curl -fs "$prom/-/ready" >/dev/null 2>&1 && { ready=1; break; }
  kill -0 "$prom_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$ready" ]; then
  fail "prometheus ready" "$(tail -5 "$work/prometheus.log" | tr '\n' ' ')"
  summary
fi
pass "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') ready on 127.0.0.1:$prom_port (pid $prom_pid), scraping every 1s"

# q EXPR: the instant query's result, one "labels value" line per series
# (an "error: ..." line when the API answers an error).
q() { python3 "$here/dashboard.py" query "$prom" "$1"; }
# wait_for EXPR: polls (at most ~20 s) until EXPR has a series.
wait_for() {
  local out
  for _ in $(seq 40); do
    out=$(q "$1")
    [ -n "$out" ] && [ "${out#error}" = "$out" ] && { echo "$out"; return 0; }
    sleep 0.5
  done
  echo "$out"
  return 1
}
# value_check NAME EXPR PYTHON-CONDITION-ON-v
value_check() {
  local name=$1 expr=$2 cond=$3 out
  if ! out=$(wait_for "$expr"); then
    fail "$name" "no series for $expr (${out:-empty result})"
    return
  fi
  if python3 -c "import math,sys; v=float(sys.argv[1]); sys.exit(0 if ($cond) else 1)" "${out##* }"; then
    pass "$name: $expr = ${out##* }"
  else
    fail "$name" "$expr = ${out##* } (wanted $cond)"
  fi
}

value_check "target up" "up{job=\"serenity-agent\"}" "v == 1"
value_check "slack series" "serenity_slack_cpus{job=\"serenity-agent\"}" "math.isfinite(v) and v >= 0"
value_check "memory slack series" "serenity_slack_mem_bytes{job=\"serenity-agent\"}" "math.isfinite(v) and v >= 0"
value_check "contention series" "serenity_contentions{job=\"serenity-agent\",pipeline=\"qos-agent\"}" "v >= 0 and v == int(v)"
value_check "correction counter exists" "sum(serenity_corrections_total{job=\"serenity-agent\",mode=\"dry_run\"})" "v >= 0 and v == int(v)"
value_check "production group sampled" "serenity_groups{job=\"serenity-agent\",kind=\"production\"}" "v == 1"
value_check "best-effort group sampled" "serenity_groups{job=\"serenity-agent\",kind=\"best-effort\"}" "v == 1"
value_check "production cpu_usage signal" "max(serenity_signal{job=\"serenity-agent\",group=\"$name/production/web\",signal=\"cpu_usage\"})" "math.isfinite(v) and v > 0"
value_check "ticks advance" "rate(serenity_ticks_total{job=\"serenity-agent\"}[10s])" "v > 0.3"
value_check "no agent errors" "serenity_errors_total{job=\"serenity-agent\"}" "v == 0"
# The overloaded quarter CPU makes the dry run log corrections; enforce stays 0.
value_check "overload is corrected in dry run" "max_over_time(serenity_contentions{job=\"serenity-agent\",pipeline=\"qos-agent\"}[1m]) > 0 and on() sum(serenity_corrections_total{job=\"serenity-agent\",mode=\"dry_run\"}) > 0" "v > 0"
enforced=$(q "serenity_corrections_total{job=\"serenity-agent\",mode=\"enforce\"}")
if [ -z "$enforced" ] && grep -qx "$batch_pid" "${hierarchies[0]}/$name/best-effort/batch/cgroup.procs" &&
  kill -0 "$batch_pid" 2>/dev/null && ! grep -q FROZEN "$cg/freezer/$name/best-effort/batch/freezer.state" 2>/dev/null; then
  pass "dry run acted on nothing (no enforce series; best-effort/batch still runs, thawed)"
else
  fail "dry run acted on nothing" "enforce series: '${enforced}', batch pid $batch_pid alive: $(kill -0 "$batch_pid" 2>/dev/null && echo yes || echo no)"
fi

# --- the Grafana dashboard -------------------------------------------------------
curl -fsS "http://$agent_addr/metrics" -o "$work/scrape.txt" 2>/dev/null
python3 "$here/dashboard.py" dashboard "$prom" "$repo/docs/grafana/serenity.json" \
  "$work/scrape.txt" "$repo/cpp_shim/mesos" >"$work/dashboard.out" 2>&1
rc=$?
while IFS= read -r line; do
  case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) rest=${line#FAIL }; fail "${rest%%: *}" "${rest#*: }" ;;
    *) echo "$line" ;;
  esac
done <"$work/dashboard.out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$work/dashboard.out"; then
  fail "dashboard check" "dashboard.py exited with status $rc (output above)"
fi

if ! kill -0 "$agent_pid" 2>/dev/null; then
  fail "agent still running" "it exited: $(tail -5 "$work/agent.log" | tr '\n' ' ')"
fi
summary
