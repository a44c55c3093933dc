#!/usr/bin/env bash
# Builds the Rust C ABI and the C++ wrapper with CMake and runs ctest: the
# GoogleTest tests of the wrapper, and the same binary under valgrind.
# Installs what it needs from Debian if missing (cmake, g++, libgtest-dev,
# valgrind). Pass extra CMake arguments after the script's name, e.g.
#   scripts/test-cpp.sh -DMESOS_ROOT=/usr/local
# Build directory: $BUILD_DIR (default <cargo target dir>/cmake, i.e.
# $CARGO_TARGET_DIR/cmake or target/cmake).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-${CARGO_TARGET_DIR:-$root/target}/cmake}

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
[ -f /usr/include/gtest/gtest.h ] || missing+=(libgtest-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-cpp: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure
