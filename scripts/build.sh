#!/usr/bin/env bash
# Configures and builds thaw into build/ (or $THAW_BUILD_DIR). Extra args go to CMake's configure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
if [ ! -f "$build/CMakeCache.txt" ] || [ $# -gt 0 ]; then
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$root" -B "$build" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=${THAW_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
fi
cmake --build "$build" -j "$(nproc)"
ln -sf "$build/compile_commands.json" "$root/compile_commands.json"
