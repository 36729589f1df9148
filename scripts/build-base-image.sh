#!/usr/bin/env bash
# Build the Docker runtime's base image, workbench-base:py3.11, without any registry: a minimal
# Debian bookworm with Python 3.11 and venv, made by debootstrap from Debian's packages and
# imported into the local Docker engine. Does nothing when the image is already there.
#
# Needs root (debootstrap), a running Docker engine, and debootstrap (apt-get install debootstrap).
# Usage: scripts/build-base-image.sh [TAG]
set -euo pipefail

tag="${1:-workbench-base:py3.11}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag is already built"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "needs debootstrap: apt-get install debootstrap" >&2; exit 1; }

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "building $tag: debootstrap bookworm into $rootfs (a few minutes)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import \
  -c 'ENV LANG=C.UTF-8' \
  -c 'CMD ["python3"]' \
  -m "workbench base image: Debian bookworm minbase with Python 3.11" \
  - "$tag"
rm -f "$rootfs.log"
echo "built $tag"
