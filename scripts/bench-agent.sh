#!/usr/bin/env bash
# The node agent's own cost at N groups, old binary against new, measured
# side by side in one run: `serenity agent` in dry run at 1 s ticks with the
# shipped pipelines (pipelines/qos-agent.toml and estimator.toml), on cgroup
# v1 and on cgroup v2, interleaved (old v1, new v1, old v2, new v2, per
# round). For each run: CPU as % of one core from /proc/<pid>/stat
# utime+stime deltas over the measured window (after a warm-up), the
# user/system split, VmHWM and VmRSS; then a table with the ratios new/old
# and the load average before and after.
#
#   sudo bash scripts/bench-agent.sh --old BIN --new BIN [--groups 300] \
#        [--secs 60] [--warmup 5] [--rounds 1] [--versions "v1 v2"] \
#        [--strace SECS]
#
# --strace SECS additionally runs each binary once per version under
# `strace -f -c` for SECS seconds and prints the syscall summary (not
# timed: strace slows the agent down).
#
# Groups: a scratch parent `serenity-bench-<pid>` with `prod/gNNN` (5/6 of
# them) and `be/gNNN` (the rest), in the v1 cpu, cpuacct, memory and blkio
# hierarchies and in the unified (v2) hierarchy; every 5th group holds a
# `sleep`, two hold a light `stress-ng --cpu 1 --cpu-load 5` (when
# installed); every 3rd production group has a CFS quota and a memory
# limit (v1; v2 controllers are only written where enabled). Everything is
# removed on exit, failure or Ctrl-C included (processes stopped by PID).
set -euo pipefail

GROUPS_N=300
SECS=60
WARMUP=5
ROUNDS=1
VERSIONS="v1 v2"
OLD=""
NEW=""
STRACE=0
ROOT=/sys/fs/cgroup
REPO="$(cd "$(dirname "$0")/.." && pwd)"

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --old) OLD="$2"; shift 2 ;;
    --new) NEW="$2"; shift 2 ;;
    --groups) GROUPS_N="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --versions) VERSIONS="$2"; shift 2 ;;
    --strace) STRACE="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "bench-agent: unknown argument $1" >&2; usage 2 ;;
  esac
done
[ -n "$OLD" ] && [ -n "$NEW" ] || { echo "bench-agent: --old BIN and --new BIN are required (see --help)" >&2; exit 2; }
for b in "$OLD" "$NEW"; do
  [ -x "$b" ] || { echo "bench-agent: $b is not an executable" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench-agent: needs root (it creates cgroups)" >&2; exit 2; }
for c in cpu cpuacct memory blkio; do
  [ -d "$ROOT/$c" ] || { echo "bench-agent: no cgroup v1 $c hierarchy at $ROOT/$c" >&2; exit 2; }
done
[ -f "$ROOT/unified/cgroup.procs" ] || { echo "bench-agent: no cgroup2 hierarchy at $ROOT/unified" >&2; exit 2; }

NAME="serenity-bench-$$"
WORK="$(mktemp -d /tmp/serenity-bench-agent.XXXXXX)"
V1_HIER=(cpu cpuacct memory blkio)
PIDS=()
AGENT_PID=""

cleanup() {
  set +e
  [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for h in "${V1_HIER[@]/#/$ROOT/}" "$ROOT/unified"; do
    [ -d "$h/$NAME" ] || continue
    # Deepest first; a group whose last task is still exiting needs a retry.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      find "$h/$NAME" -depth -type d -exec rmdir {} + 2>/dev/null
      [ -d "$h/$NAME" ] || break
      sleep 0.2
    done
    [ -d "$h/$NAME" ] && echo "bench-agent: warning: could not remove $h/$NAME" >&2
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Group names: production first, then best-effort.
N_BE=$(( GROUPS_N / 6 ))
N_PROD=$(( GROUPS_N - N_BE ))
REL=()
for i in $(seq 1 "$N_PROD"); do REL+=("prod/$(printf 'g%03d' "$i")"); done
for i in $(seq 1 "$N_BE"); do REL+=("be/$(printf 'g%03d' "$i")"); done

for h in "${V1_HIER[@]/#/$ROOT/}" "$ROOT/unified"; do
  mkdir "$h/$NAME" "$h/$NAME/prod" "$h/$NAME/be"
  for r in "${REL[@]}"; do mkdir "$h/$NAME/$r"; done
done
i=0
for r in "${REL[@]}"; do
  i=$((i + 1))
  if [ "${r%%/*}" = prod ] && [ $((i % 3)) = 0 ]; then
    echo 200000 > "$ROOT/cpu/$NAME/$r/cpu.cfs_quota_us"
    echo $((512 << 20)) > "$ROOT/memory/$NAME/$r/memory.limit_in_bytes"
  fi
done

# Processes: a sleep in every 5th group, two light stress-ng workers.
attach() { # pid rel
  for h in "${V1_HIER[@]/#/$ROOT/}" "$ROOT/unified"; do echo "$1" > "$h/$NAME/$2/cgroup.procs"; done
}
i=0
for r in "${REL[@]}"; do
  i=$((i + 1))
  [ $((i % 5)) = 1 ] || continue
  sleep 100000 & PIDS+=($!)
  attach "$!" "$r"
done
if command -v stress-ng >/dev/null; then
  for r in "${REL[1]}" "${REL[$((N_PROD + 1))]}"; do
    stress-ng --cpu 1 --cpu-load 5 --quiet >/dev/null 2>&1 & PIDS+=($!)
    attach "$!" "$r"
  done
fi
echo "bench-agent: $GROUPS_N groups ($N_PROD production, $N_BE best-effort) under $NAME; ${#PIDS[@]} processes"

config() { # version
  local root="$ROOT"
  [ "$1" = v2 ] && root="$ROOT/unified"
  cat > "$WORK/agent-$1.toml" <<EOF
qos = "$REPO/pipelines/qos-agent.toml"
estimator = "$REPO/pipelines/estimator.toml"
interval_secs = 1.0

[cgroups]
version = "$1"
root = "$root"
production = ["$NAME/prod"]
best_effort = "$NAME/be"

[metrics]
listen = "127.0.0.1:0"
EOF
  echo "$WORK/agent-$1.toml"
}

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# One measured run: prints "user_pct sys_pct total_pct hwm_kib rss_kib anon_kib file_kib".
measure() { # binary version
  local cfg; cfg="$(config "$2")"
  "$1" agent --config "$cfg" >"$WORK/log-$2" 2>&1 &
  AGENT_PID=$!
  sleep "$WARMUP"
  kill -0 "$AGENT_PID" 2>/dev/null || { echo "bench-agent: $1 exited early:" >&2; tail -5 "$WORK/log-$2" >&2; exit 1; }
  read -r u0 s0 < <(cpu_ticks "$AGENT_PID")
  local t0; t0=$(date +%s.%N)
  sleep "$SECS"
  read -r u1 s1 < <(cpu_ticks "$AGENT_PID")
  local t1; t1=$(date +%s.%N)
  local hwm rss anon file
  hwm=$(status_kib "$AGENT_PID" VmHWM); rss=$(status_kib "$AGENT_PID" VmRSS)
  anon=$(status_kib "$AGENT_PID" RssAnon); file=$(status_kib "$AGENT_PID" RssFile)
  kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=""
  awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" -v t0="$t0" -v t1="$t1" -v h="$hwm" -v r="$rss" -v a="$anon" -v f="$file" \
    'BEGIN { w = t1 - t0; printf "%.3f %.3f %.3f %s %s %s %s\n", 100*u/hz/w, 100*s/hz/w, 100*(u+s)/hz/w, h, r, a, f }'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS="$WORK/results"
: > "$RESULTS"
[ "$SECS" = 0 ] && ROUNDS=0   # --secs 0: only the strace summary
for round in $(seq 1 "$ROUNDS"); do
  for v in $VERSIONS; do
    for which in old new; do
      bin="$OLD"; [ "$which" = new ] && bin="$NEW"
      echo "bench-agent: round $round, $v, $which binary, ${SECS} s ..." >&2
      echo "$v $which $(measure "$bin" "$v")" | tee -a "$RESULTS" >&2
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "$ROUNDS" != 0 ]; then
echo
echo "| cgroups | binary | CPU % of one core | user % | system % | VmHWM MiB | VmRSS MiB | of which anon / file MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for v in $VERSIONS; do
  for which in old new; do
    awk -v v="$v" -v w="$which" '$1 == v && $2 == w { n++; u += $3; s += $4; t += $5; if ($6 > h) h = $6; r += $7; a += $8; f += $9 }
      END { if (n) printf "| %s | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f / %.1f |\n", v, w, t/n, u/n, s/n, h/1024, r/n/1024, a/n/1024, f/n/1024 }' "$RESULTS"
  done
  awk -v v="$v" '$1 == v && $2 == "old" { on++; ot += $5; oh = ($6 > oh ? $6 : oh) }
    $1 == v && $2 == "new" { nn++; nt += $5; nh = ($6 > nh ? $6 : nh) }
    END { if (on && nn && ot > 0) printf "| %s | new/old | %.2f× | | | %.2f× | | |\n", v, (nt/nn)/(ot/on), nh/oh }' "$RESULTS"
done
echo
echo "$GROUPS_N groups, 1 s ticks, dry run, ${SECS} s measured per run after ${WARMUP} s warm-up, $ROUNDS round(s), $(nproc) CPUs;"
echo "load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER"
fi

if [ "$STRACE" != 0 ]; then
  command -v strace >/dev/null || { echo "bench-agent: --strace needs strace" >&2; exit 1; }
  for v in $VERSIONS; do
    for which in old new; do
      bin="$OLD"; [ "$which" = new ] && bin="$NEW"
      cfg="$(config "$v")"
      "$bin" agent --config "$cfg" >"$WORK/log-strace" 2>&1 &
      AGENT_PID=$!
      sleep "$WARMUP"
      echo
      echo "## $v, $which binary: strace -f -c over ${STRACE} s (about $STRACE ticks)"
      timeout -s INT "$STRACE" strace -f -c -p "$AGENT_PID" -o "$WORK/strace-$v-$which" >/dev/null 2>&1 || true
      # Descriptors opened before the trace (kept open): name them from /proc.
      for f in /proc/"$AGENT_PID"/fd/*; do
        printf '%s %s\n' "${f##*/}" "$(readlink "$f")"
      done > "$WORK/fds-$v-$which"
      timeout -s INT "$STRACE" strace -f -qq -p "$AGENT_PID" -o "$WORK/trace-$v-$which" >/dev/null 2>&1 || true
      kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
      AGENT_PID=""
      head -20 "$WORK/strace-$v-$which"
      # Whole ticks only: discovery opens the production parent first
      # thing in each tick, so events are committed at each such open and
      # those before the first and after the last are dropped. Opens by file
      # name; reads and preads by the file their descriptor was opened on
      # (the last open of that descriptor number).
      awk -v g="$GROUPS_N" -v fds="$WORK/fds-$v-$which" '
        BEGIN { while ((getline line < fds) > 0) { split(line, kv, " "); n = split(kv[2], parts, "/")
          fd[kv[1]] = (kv[2] ~ /^\/proc\/[0-9]+\//) ? "/proc/<tid>/" parts[n] : parts[n] } }
        function commit(  n) { for (n in po) { opens[n] += po[n]; delete po[n] }
          for (n in pf) { failed[n] += pf[n]; delete pf[n] }
          for (n in pr) { reads[n] += pr[n]; delete pr[n] }
          for (n in ps) { calls[n] += ps[n]; delete ps[n] } }
        / openat\(/ && match($0, /"[^"]*"/) {
          f = substr($0, RSTART + 1, RLENGTH - 2); n = split(f, parts, "/"); name = parts[n]
          if (f ~ /^\/proc\/[0-9]+\//) name = "/proc/<tid>/" name
          if (name == "prod") { if (t++) commit(); else { delete po; delete pf; delete pr; delete ps } }
          po[name]++
          if (match($0, /= [0-9]+$/)) fd[substr($0, RSTART + 2)] = name
          else pf[name]++
        }
        match($0, /^[0-9]+ +[a-z_0-9]+\(/) { sc = $2; sub(/\(.*/, "", sc); ps[sc]++ }
        match($0, /<\.\.\. [a-z_0-9]+ resumed>/) { }
        / (read|pread64)\(/ && match($0, /\(([0-9]+)/) {
          d = substr($0, RSTART + 1, RLENGTH - 1); name = fd[d]; if (name == "") name = "(other)"
          pr[name]++
        }
        END {
          t = t - 1; if (t < 1) { print "fewer than two ticks traced"; exit }
          printf "per group per tick (%d groups, %d whole ticks traced), by file:\n", g, t
          printf "| file | opens | of which failed | read+pread |\n|---|---:|---:|---:|\n"
          for (n in opens) seen[n] = 1; for (n in reads) seen[n] = 1
          for (n in seen) if (n != "prod" && n != "be" && n != "(other)") {
            o += opens[n]; fl += failed[n]; r += reads[n]
            printf "| %s | %.2f | %.2f | %.2f |\n", n, opens[n]/g/t, failed[n]/g/t, reads[n]/g/t | "sort"
          }
          close("sort")
          printf "| **all** | %.2f | %.2f | %.2f |\n", o/g/t, fl/g/t, r/g/t
          printf "\nsyscalls per group per tick, all threads:\n| syscall | calls |\n|---|---:|\n"
          for (n in calls) { c += calls[n]; if (calls[n]/g/t >= 0.01) printf "| %s | %.2f |\n", n, calls[n]/g/t | "sort" }
          close("sort")
          printf "| **all** | %.2f |\n", c/g/t
        }' "$WORK/trace-$v-$which"
    done
  done
fi
