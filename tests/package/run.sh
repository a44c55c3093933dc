#!/usr/bin/env bash
# The Debian package, built and checked as an operator would install it.
#
#   tests/package/run.sh [MESOS_ROOT]
#
# Configures the CMake project with -DSERENITY_PACKAGE=ON (and, with a
# MESOS_ROOT, -DMESOS_ROOT so the package holds the module library) in
# <cargo target dir>/package/build-{plain,mesos} (the cargo target dir is
# $CARGO_TARGET_DIR, else target/ of the checkout: an existing release
# build of serenity-cli and serenity-ffi there is reused), builds the
# release `serenity` binary and the module, runs `cpack -G DEB`, unpacks the
# .deb into a scratch root with `dpkg -x` and checks: the control fields
# (`dpkg-deb --info`: Package, Version, Architecture, Depends covering every
# shared library the ELF files need), the conffile and maintainer scripts,
# the file list, modules.json (its library and pipelines exist inside the
# scratch root), the installed `serenity check` on every installed
# pipeline, the packaged agent.toml (one dry-run tick with the installed
# binary), and `systemd-analyze verify` on the unit.
#
# Every check prints `PASS name`, `FAIL name: why` or `SKIP name: why`; the
# last line is `package: N passed, M failed, K skipped`; the exit status is
# 0 iff M = 0. Needs cmake, cpack, cargo, dpkg-deb; no root.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mesos_root=${1:-}

passed=0 failed=0 skipped=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }
summary() {
  echo "package: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}

scratch=""
trap '[ -n "$scratch" ] && rm -rf "$scratch"' EXIT

for tool in cmake cpack cargo dpkg-deb python3; do
  command -v "$tool" >/dev/null || { fail "tools" "$tool is not installed"; summary; }
done

cargo_target=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$cargo_target"
cargo_target=$(cd "$cargo_target" && pwd)
if [ -n "$mesos_root" ]; then
  build=$cargo_target/package/build-mesos
  mesos_flag=(-DMESOS_ROOT="$mesos_root")
else
  build=$cargo_target/package/build-plain
  mesos_flag=()
fi
mkdir -p "$build"
scratch=$(mktemp -d /tmp/serenity-package.XXXXXX)
log=$scratch/log
mkdir -p "$log"

# --- build ---------------------------------------------------------------------
start=$(date +%s)
if ! cmake -S "$repo" -B "$build" -DSERENITY_PACKAGE=ON -DSERENITY_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DSERENITY_CARGO_TARGET_DIR="$cargo_target" "${mesos_flag[@]}" >"$log/configure" 2>&1; then
  fail "cmake configure" "$(tail -8 "$log/configure" | tr '\n' ' ')"
  summary
fi
if ! cmake --build "$build" >"$log/build" 2>&1; then
  fail "cmake build" "$(grep -m5 -E 'error|Error' "$log/build" | tr '\n' ' ')"
  summary
fi
rm -f "$build"/serenity_*.deb
if ! (cd "$build" && cpack -G DEB) >"$log/cpack" 2>&1; then
  fail "cpack -G DEB" "$(tail -8 "$log/cpack" | tr '\n' ' ')"
  summary
fi
deb=$(ls "$build"/serenity_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
  fail "cpack -G DEB" "no serenity_*.deb in $build: $(tail -3 "$log/cpack" | tr '\n' ' ')"
  summary
fi
pass "package built in $(($(date +%s) - start)) s: ${deb#"$cargo_target"/} ($(du -k "$deb" | cut -f1) KiB)"

with_module=""
[ -n "$mesos_root" ] && grep -q 'Mesos 1\.\|Mesos [0-9]' "$log/configure" && with_module=1

# --- control fields --------------------------------------------------------------
field() { dpkg-deb --field "$deb" "$1" 2>/dev/null; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
want_version=$version
if [ -n "$with_module" ]; then
  mesos_version=$(sed -n 's/.*Mesos \([0-9][0-9.]*[^:]*\): .*/\1/p' "$log/configure" | head -1)
  want_version="$version+mesos$mesos_version"
fi
[ "$(field Package)" = serenity ] && pass "Package: serenity" || fail "Package" "'$(field Package)'"
[ "$(field Version)" = "$want_version" ] && pass "Version: $want_version (Cargo's workspace version${with_module:+ + the Mesos it was built against})" ||
  fail "Version" "'$(field Version)', wanted '$want_version'"
arch=$(dpkg --print-architecture)
[ "$(field Architecture)" = "$arch" ] && pass "Architecture: $arch" || fail "Architecture" "'$(field Architecture)', wanted $arch"
for f in Maintainer Description Section Installed-Size; do
  [ -n "$(field "$f")" ] || fail "control field $f" "empty or missing"
done
[ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] && pass "Maintainer, Description, Section, Installed-Size set"

root=$scratch/root
ctrl=$scratch/control
dpkg-deb -x "$deb" "$root" && dpkg-deb -e "$deb" "$ctrl" || { fail "dpkg-deb -x" "cannot unpack $deb"; summary; }

# Depends must name, for every shared library an ELF file of the package
# needs, the Debian package that ships that library (libmesos excepted: it
# is no Debian package and the Mesos agent loading the module has it).
depends=$(field Depends)
missing=() covered=()
while IFS= read -r elf; do
  for lib in $(readelf -d "$elf" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in libmesos*) continue ;; esac
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x32|AArch64|64bit|libc6/ {print $NF; exit}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    if [ -z "$owner" ]; then
      missing+=("$lib (no package owns it)")
    elif ! printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$owner"; then
      missing+=("$lib ($owner)")
    else
      covered+=("$lib:$owner")
    fi
  done
done < <(find "$root" -type f \( -perm -u+x -o -name '*.so*' \) -exec sh -c 'head -c4 "$1" | grep -q ELF && echo "$1"' _ {} \;)
if [ ${#missing[@]} -eq 0 ] && [ ${#covered[@]} -gt 0 ]; then
  pass "Depends: $depends (covers $(printf '%s\n' "${covered[@]}" | sort -u | tr '\n' ' '))"
else
  fail "Depends" "'$depends' misses ${missing[*]:-every library (no ELF file found)}"
fi

conffiles=$(cat "$ctrl/conffiles" 2>/dev/null)
if [ "$conffiles" = /etc/serenity/agent.toml ] && [ -f "$root/etc/serenity/agent.toml" ]; then
  pass "conffiles: /etc/serenity/agent.toml"
else
  fail "conffiles" "'$conffiles' (wanted exactly /etc/serenity/agent.toml, present in the data)"
fi
bad=""
for s in postinst prerm postrm; do
  [ -x "$ctrl/$s" ] && sh -n "$ctrl/$s" || bad="$bad $s"
done
[ -z "$bad" ] && pass "maintainer scripts postinst, prerm, postrm: executable, valid sh" || fail "maintainer scripts" "missing, not executable or not sh:$bad"
if grep -q 'systemctl \(enable\|start\)' "$ctrl/postinst" 2>/dev/null; then
  fail "postinst leaves the agent off" "it enables or starts serenity-agent"
else
  pass "postinst leaves the agent off (no enable/start: agent.toml names the host's cgroups)"
fi

# --- file list ----------------------------------------------------------------
expect=(usr/bin/serenity usr/lib/systemd/system/serenity-agent.service etc/serenity/agent.toml
  usr/share/doc/serenity/README.md usr/share/doc/serenity/copyright usr/share/doc/serenity/agent.md
  usr/share/doc/serenity/mesos.md usr/share/doc/serenity/pipelines.md usr/share/doc/serenity/grafana.md
  usr/share/doc/serenity/grafana/serenity.json usr/include/serenity/serenity.h)
absent=()
for f in "${expect[@]}"; do [ -e "$root/$f" ] || absent+=("$f"); done
[ -x "$root/usr/bin/serenity" ] || absent+=("usr/bin/serenity (executable)")
[ ${#absent[@]} -eq 0 ] && pass "files: binary, unit, conffile, docs, dashboard, header" || fail "files" "missing ${absent[*]}"
if readelf -W -S "$root/usr/bin/serenity" 2>/dev/null | grep -qE '\.debug_(info|line|str)'; then
  fail "binary stripped" "usr/bin/serenity still has .debug_info, .debug_line or .debug_str"
else
  pass "binary stripped ($(($(stat -c %s "$root/usr/bin/serenity") / 1048576)) MiB)"
fi
shipped=$(cd "$repo/pipelines" && ls *.toml | sort | tr '\n' ' ')
installed=$(cd "$root/usr/share/serenity/pipelines" 2>/dev/null && ls *.toml | sort | tr '\n' ' ')
[ -n "$shipped" ] && [ "$shipped" = "$installed" ] && pass "pipelines: all $(echo "$shipped" | wc -w) of pipelines/*.toml in /usr/share/serenity/pipelines" ||
  fail "pipelines" "installed '$installed', shipped '$shipped'"
stray=$(cd "$root" && find . -type f | grep -v -E '^\./(usr/bin|usr/lib|usr/share/serenity|usr/share/doc/serenity|usr/include/serenity|etc/serenity)/' | tr '\n' ' ')
[ -z "$stray" ] && pass "no file outside the package's directories" || fail "stray files" "$stray"

# --- the module and modules.json -------------------------------------------------
if [ -z "$mesos_root" ]; then
  skip "module library" "no MESOS_ROOT given: the package is built without libserenity_mesos.so"
  if [ -e "$root/usr/share/serenity/modules.json" ] || ls "$root"/usr/lib/*/libserenity_mesos.so >/dev/null 2>&1; then
    fail "no module files without the module" "modules.json or libserenity_mesos.so is in the package"
  else
    pass "no module files without the module (no modules.json naming a missing library)"
  fi
elif [ -z "$with_module" ]; then
  fail "module library" "MESOS_ROOT=$mesos_root given but CMake did not find Mesos: $(grep -m2 -i mesos "$log/configure" | tr '\n' ' ')"
else
  manifest=$root/usr/share/serenity/modules.json
  out=$(python3 - "$manifest" "$root" <<'EOF'
import json, os, sys
manifest, root = sys.argv[1], sys.argv[2]
try:
    m = json.load(open(manifest))
except (OSError, ValueError) as e:
    print(f"FAIL modules.json: {e}"); sys.exit()
paths = []
for lib in m.get("libraries", []):
    paths.append(("library", lib.get("file", "")))
    for mod in lib.get("modules", []):
        for p in mod.get("parameters", []):
            if p.get("key") == "pipeline":
                paths.append((mod.get("name"), p.get("value", "")))
bad = [f"{what}: {p}" for what, p in paths if not (os.path.isabs(p) and os.path.isfile(root + p))]
names = sorted(mod.get("name") for lib in m.get("libraries", []) for mod in lib.get("modules", []))
if bad or len(paths) != 3:
    print(f"FAIL modules.json: paths not inside the package: {bad or paths}")
else:
    print(f"PASS modules.json: {', '.join(names)}; library {paths[0][1]} and both pipelines exist in the package")
EOF
)
  case $out in PASS\ *) pass "${out#PASS }" ;; *) rest=${out#FAIL }; fail "${rest%%: *}" "${rest#*: }" ;; esac
  lib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["libraries"][0]["file"])' "$manifest" 2>/dev/null)
  syms=$(nm -D --defined-only "$root$lib" 2>/dev/null | awk '$2 ~ /^[A-Z]$/ {print $3}' | sort | tr '\n' ' ')
  if [ "$syms" = "org_serenity_rs_SerenityEstimator org_serenity_rs_SerenityQoSController " ]; then
    pass "module library $lib exports exactly the two module symbols"
  else
    fail "module library exports" "'$syms'"
  fi
fi

# --- the installed binary ------------------------------------------------------------
bin=$root/usr/bin/serenity
got=$("$bin" --version 2>&1)
[ "$got" = "serenity $version" ] && pass "installed serenity --version: $got" || fail "installed serenity --version" "'$got', wanted 'serenity $version'"
if out=$("$bin" check "$root"/usr/share/serenity/pipelines/*.toml 2>&1); then
  pass "installed serenity check: $(echo "$out" | grep -c '^ok: ') installed pipelines ok"
else
  fail "installed serenity check" "$(echo "$out" | grep -v '^ok: ' | tr '\n' ' ')"
fi

# The packaged agent.toml as the unit reads it: pipeline paths moved into
# the scratch root, metrics on a free port; one dry-run tick.
conf=$scratch/agent.toml
sed -e "s|\"/usr/share/serenity/|\"$root/usr/share/serenity/|" -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
  "$root/etc/serenity/agent.toml" >"$conf"
if [ -d /sys/fs/cgroup ] && out=$("$bin" agent --config "$conf" --once 2>&1); then
  pass "packaged agent.toml: one dry-run tick with the installed binary and pipelines"
elif [ ! -d /sys/fs/cgroup ]; then
  skip "packaged agent.toml" "no /sys/fs/cgroup on this host"
else
  fail "packaged agent.toml" "$(echo "$out" | tail -5 | tr '\n' ' ')"
fi

# --- the systemd unit -----------------------------------------------------------------
unit=$root/usr/lib/systemd/system/serenity-agent.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
if [ "$exec_start" = "/usr/bin/serenity agent -v --config /etc/serenity/agent.toml" ] &&
  grep -qx 'Restart=on-failure' "$unit"; then
  pass "unit: dry run by default (ExecStart=$exec_start), Restart=on-failure"
else
  fail "unit" "ExecStart='$exec_start', Restart: $(grep '^Restart=' "$unit")"
fi
# ProtectSystem=strict makes /var read-only: the enforcement state file's
# directory (the agent's default state_file) must be the unit's
# StateDirectory, or `--enforce` could not record what to undo after a crash.
if grep -qx 'StateDirectory=serenity' "$unit" && grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" &&
  grep -Eq '(^|, )procps(,|$)' <<<"$depends"; then
  pass "unit: StateDirectory=serenity (the state file's /var/lib/serenity stays writable), reload is SIGHUP (/bin/kill of procps, in Depends)"
else
  fail "unit: state directory and reload" "$(grep -E '^(StateDirectory|ExecReload|ProtectSystem)=' "$unit" | tr '\n' ' '); Depends: $depends"
fi
# verify --root resolves ExecStart, ExecReload and the unit's default
# dependencies (sysinit.target, ...) inside the root: a copy of the scratch
# root gets the host's standard targets and the /bin/kill of procps (a
# Depends of the package). Any output (an unknown key, a missing binary)
# fails.
targets=$(ls /usr/lib/systemd/system/sysinit.target /lib/systemd/system/sysinit.target 2>/dev/null | head -1)
if ! command -v systemd-analyze >/dev/null; then
  skip "systemd-analyze verify" "systemd-analyze is not installed (Debian: systemd)"
elif [ -z "$targets" ]; then
  skip "systemd-analyze verify" "no systemd targets on this host to resolve the unit's default dependencies"
else
  vroot=$scratch/verify-root
  cp -a "$root" "$vroot" && cp -n "$(dirname "$targets")"/*.target "$vroot/usr/lib/systemd/system/"
  mkdir -p "$vroot/bin" && cp /bin/kill "$vroot/bin/kill"
  if out=$(systemd-analyze verify --man=no --root="$vroot" "$vroot/usr/lib/systemd/system/serenity-agent.service" 2>&1) &&
    [ -z "$out" ]; then
    pass "systemd-analyze verify --root: clean ($(systemd-analyze --version | head -1 | cut -d' ' -f1-2))"
  else
    fail "systemd-analyze verify" "$(printf '%s' "${out:-exit status non-zero}" | tr '\n' ' ')"
  fi
fi

summary
