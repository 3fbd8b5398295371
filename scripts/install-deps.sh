#!/usr/bin/env bash
# Installs the Debian 12 packages kadmium builds with, plus prometheus (the monitoring tests
# and scripts/local-net.sh run it), and only those that are missing.
# Does nothing (and needs no root) when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libsodium-dev liblmdb-dev libmsgpack-cxx-dev
  prometheus-cpp-dev catch2 libcli11-dev libspdlog-dev
  curl python3 prometheus
  # Deployment tests (tests/system/deploy_test.py): network namespaces, the container
  # image built without a registry, the systemd unit check.
  iproute2 podman runc debootstrap systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node and npm validate the Kubernetes manifests (deploy/k8s/test); any install of them
# will do (Debian's, or NodeSource's, which bundles npm and conflicts with Debian's npm).
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
