#!/usr/bin/env bash
# Builds the thaw container image with no base image to download: assembles a root filesystem from
# the built `thaw` binary, libthaw_grpc.so (loaded from beside the binary for --grpc-port and
# --keda-scaler-port), ONNX Runtime's libraries and every shared library `ldd` finds for them (glibc
# and the dynamic loader included), then builds it `FROM scratch` with podman (or buildah).
#
#   deploy/image/build.sh                       # from build-release/, tagged thaw:latest
#   THAW_BUILD_DIR=build THAW_IMAGE=thaw:dev deploy/image/build.sh
#   deploy/image/build.sh --rootfs-only DIR     # only the root filesystem (no podman needed)
#
# The image runs as uid 65532 (as deploy/ asks), serves /models by default, and has no shell, no
# package manager and no CA certificates (thaw's registry fetches are plain HTTP inside the cluster).
# deploy/kustomization.yaml points every container at thaw:latest; push it to your registry and set
# `kustomize edit set image thaw=REGISTRY/thaw:TAG`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${THAW_BUILD_DIR:-$root/build-release}
tag=${THAW_IMAGE:-thaw:latest}
rootfs_only=
if [ "${1:-}" = "--rootfs-only" ]; then
  [ -n "${2:-}" ] || { echo "usage: $0 --rootfs-only DIR" >&2; exit 2; }
  rootfs_only=$2
fi
thaw=$build/thaw
[ -x "$thaw" ] || { echo "no $thaw: build thaw first (cmake --build $build --target thaw), or set THAW_BUILD_DIR" >&2; exit 2; }
grpc=$build/libthaw_grpc.so
[ -f "$grpc" ] || echo "warning: no $grpc: the image will serve without gRPC and the KEDA scaler" >&2

ctx=$(mktemp -d "${TMPDIR:-/tmp}/thaw-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
rootfs=${rootfs_only:-$ctx/rootfs}
mkdir -p "$rootfs"/usr/local/bin "$rootfs"/usr/lib/thaw "$rootfs"/etc "$rootfs"/tmp "$rootfs"/models \
  "$rootfs"/run/thaw "$rootfs"/var/cache/thaw
strip_copy() {  # strip debug info on the way: the image needs none of it
  cp -L "$1" "$2"
  if command -v strip >/dev/null; then strip --strip-debug "$2" 2>/dev/null || true; fi
}
strip_copy "$thaw" "$rootfs/usr/local/bin/thaw"
[ -f "$grpc" ] && strip_copy "$grpc" "$rootfs/usr/local/bin/libthaw_grpc.so"

# ONNX Runtime from the binary's RUNPATH (its provider libraries are loaded by name at run time).
runpath=$(readelf -d "$thaw" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
IFS=: read -r -a dirs <<< "$runpath"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  for f in "$d"/libonnxruntime*.so*; do [ -e "$f" ] && strip_copy "$f" "$rootfs/usr/lib/thaw/$(basename "$f")"; done
done

# Every library ldd resolves, for the binary, the gRPC module and ONNX Runtime; the loader at the
# path the binaries name as their interpreter.
objects=("$thaw")
[ -f "$grpc" ] && objects+=("$grpc")
for f in "$rootfs"/usr/lib/thaw/*; do objects+=("$f"); done
for o in "${objects[@]}"; do
  LD_LIBRARY_PATH=$rootfs/usr/lib/thaw ldd "$o" | while read -r line; do
    case "$line" in
      *"=> not found"*) echo "error: $o: $line" >&2; exit 1 ;;
      *"=> /"*) lib=$(echo "$line" | awk '{print $3}')
                [ -e "$rootfs/usr/lib/thaw/$(basename "$lib")" ] || strip_copy "$lib" "$rootfs/usr/lib/thaw/$(basename "$lib")" ;;
      /*) interp=$(echo "$line" | awk '{print $1}')
          mkdir -p "$rootfs$(dirname "$interp")"
          [ -e "$rootfs$interp" ] || cp -L "$interp" "$rootfs$interp" ;;
    esac
  done
done

# Users (root and the unprivileged one deploy/ runs as), name lookups through /etc/hosts and DNS.
printf 'root:x:0:0:root:/:/sbin/nologin\nthaw:x:65532:65532:thaw:/tmp:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nthaw:x:65532:\n' > "$rootfs/etc/group"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/run/thaw" "$rootfs/var/cache/thaw" 2>/dev/null || chmod 1777 "$rootfs/run/thaw" "$rootfs/var/cache/thaw"

if [ -n "$rootfs_only" ]; then
  echo "root filesystem in $rootfs ($(du -sh "$rootfs" | cut -f1))" >&2
  exit 0
fi
cat > "$ctx/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY rootfs/ /
ENV LD_LIBRARY_PATH=/usr/lib/thaw
USER 65532:65532
EXPOSE 8080 8081 9100 8090
ENTRYPOINT ["/usr/local/bin/thaw"]
CMD ["serve", "--models", "/models", "--host", "0.0.0.0", "--port", "8080"]
CONTAINERFILE
builder=()
if command -v podman >/dev/null; then
  builder=(podman ${THAW_PODMAN_OPTS:-} build)
elif command -v buildah >/dev/null; then
  builder=(buildah ${THAW_PODMAN_OPTS:-} bud)
else
  echo "neither podman nor buildah is installed (Debian: apt-get install podman buildah)" >&2
  exit 2
fi
"${builder[@]}" --pull=never -t "$tag" -f "$ctx/Containerfile" "$ctx" >&2
echo "built $tag ($(du -sh "$rootfs" | cut -f1) root filesystem, FROM scratch)" >&2
