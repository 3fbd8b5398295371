#!/usr/bin/env bash
# Builds the `debian:12-slim` base image locally, for machines that reach a Debian mirror
# but no container registry: debootstrap (minbase bookworm) from the mirror apt uses, then
# `podman import` as localhost/debian:12-slim, which `FROM debian:12-slim` resolves to
# under `podman build --pull=never`. Does nothing when the image exists. Needs root,
# debootstrap and podman. Usage: deploy/make-base-image.sh [MIRROR]
set -euo pipefail

image=localhost/debian:12-slim
if podman image exists "$image"; then
  exit 0
fi
mirror=${1:-$(grep -hoE 'https?://[^ ]*/debian/?$' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/kadmium-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "make-base-image: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
# What the official slim image drops: apt lists and caches, docs and man pages.
# debootstrap also leaves the .debs it installed in apt's cache.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "make-base-image: $image ready" >&2
