#!/usr/bin/env bash
# Installs everything thaw needs on a fresh Debian 12 machine: system -dev packages, ONNX Runtime
# (library from PyPI's wheel, headers from Debian trixie's libonnxruntime-dev), the Python tooling
# venv, and the real model converted to ONNX. Idempotent: a second run with nothing changed is fast.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deps="$root/.deps"
mkdir -p "$deps"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libboost-dev libboost-system-dev libssl-dev zlib1g-dev libzstd-dev libxxhash-dev liburing-dev libxgboost-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libutf8proc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format clang-tidy
  wrk hyperfine curl nginx
  podman runc containernetworking-plugins iptables
)
stamp_of() { printf '%s' "$*" | sha256sum | cut -c1-16; }

# 1. Debian packages.
apt_stamp="$deps/apt.$(stamp_of "${apt_packages[*]}")"
if [ ! -f "$apt_stamp" ]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  touch "$apt_stamp"
fi

# 2. ONNX Runtime C/C++ headers from Debian trixie (an older header against a newer library is supported).
ort_hdr_version="1.21.0+dfsg-1"
if [ ! -f "$deps/onnxruntime/include/onnxruntime_c_api.h" ]; then
  say "fetching ONNX Runtime headers (libonnxruntime-dev $ort_hdr_version from trixie)"
  t="$deps/trixie-apt"; mkdir -p "$t/lists/partial" "$t/cache/archives/partial" "$t/preferences.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" > "$t/sources.list"
  opts=(-o "Dir::Etc::sourcelist=$t/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$t/lists"
        -o "Dir::Cache=$t/cache" -o "Dir::Etc::preferencesparts=$t/preferences.d" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq
  (cd "$t" && apt-get "${opts[@]}" download "libonnxruntime-dev=$ort_hdr_version" -qq)
  rm -rf "$t/x"; dpkg-deb -x "$t"/libonnxruntime-dev_*.deb "$t/x"
  mkdir -p "$deps/onnxruntime"; rm -rf "$deps/onnxruntime/include"
  cp -r "$t/x/usr/include/onnxruntime" "$deps/onnxruntime/include"
  rm -rf "$t"
fi

# 3. Python venv with the tooling, the peers, and the ONNX Runtime wheel whose .so the C++ side links.
venv="$root/.venv"
req="$root/tools/requirements.txt"
py_stamp="$deps/venv.$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$py_stamp" ] || [ ! -x "$venv/bin/python" ]; then
  say "creating the Python venv (torch CPU, transformers, onnxruntime, peers); first run takes a few minutes"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  pip_quiet() { "$venv/bin/pip" install -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  pip_quiet --upgrade pip >/dev/null
  pip_quiet torch==2.13.0
  pip_quiet -r "$req"
  rm -f "$deps"/venv.*; touch "$py_stamp"
fi
ort_lib=$(ls "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)
mkdir -p "$deps/onnxruntime/lib"
ln -sf "$ort_lib" "$deps/onnxruntime/lib/libonnxruntime.so"
ln -sf "$ort_lib" "$deps/onnxruntime/lib/$(basename "$ort_lib")"

# 4. The real model, converted once to ONNX with reference outputs.
if [ ! -f "$root/models/src/minilm/model.onnx" ]; then
  say "converting sentence-transformers/all-MiniLM-L6-v2 to ONNX"
  HF_HUB_OFFLINE=1 "$venv/bin/python" "$root/tools/export_minilm.py" --out "$root/models/src/minilm"
fi
# 5. llama.cpp (the generative backend's runtime): the tree vendored by PyPI's llama-cpp-python sdist,
# built once per version outside the checkout (CPU, no OpenMP so a forked child starts its own threads).
# Only libllama/ggml here; bench/llm.sh adds llama-server to the same build.
llama_py_version="0.3.36"
llama_home="${THAW_CACHE:-$HOME/.cache/thaw}/llama.cpp-$llama_py_version"
if [ ! -f "$llama_home/build/.built" ]; then
  say "building llama.cpp from llama-cpp-python $llama_py_version (sdist, CPU only); first run takes several minutes"
  mkdir -p "$llama_home"
  if [ ! -f "$llama_home/src/CMakeLists.txt" ]; then
    "$venv/bin/pip" download -q --no-deps --no-binary :all: "llama-cpp-python==$llama_py_version" -d "$llama_home/dl"
    rm -rf "$llama_home/x" && mkdir -p "$llama_home/x"
    tar xzf "$llama_home/dl/llama_cpp_python-$llama_py_version.tar.gz" -C "$llama_home/x"
    rm -rf "$llama_home/src" && mv "$llama_home/x/llama_cpp_python-$llama_py_version/vendor/llama.cpp" "$llama_home/src"
    rm -f "$llama_home/src/.git"  # a submodule link into the sdist's (absent) repository
    rm -rf "$llama_home/x" "$llama_home/dl"
  fi
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$llama_home/src" -B "$llama_home/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DGGML_OPENMP=OFF -DGGML_NATIVE=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF >/dev/null
  nice cmake --build "$llama_home/build" -j2 --target llama
  touch "$llama_home/build/.built"
fi
# 6. The synthetic generative model for the tests (Qwen2 shape, real byte-level BPE), as GGUF.
llm_tiny="$root/models/src/llm-tiny"
if [ ! -f "$llm_tiny/model-q8_0.gguf" ]; then
  say "making the synthetic Qwen2-shaped test model (GGUF F16 and Q8_0)"
  HF_HUB_OFFLINE=1 "$venv/bin/python" "$root/tools/make_synthetic_llm.py" --size tiny --out "$llm_tiny" \
    --llama-src "$llama_home/src" --types f16,q8_0 >/dev/null
fi
say "ready"
