#!/usr/bin/env bash
# Validates deploy/k8s and deploy/compose.yaml offline (validate.test.mjs). Installs the
# npm tooling (kubernetes-models, yaml; pinned by package-lock.json) on first use. Exit 77
# (skipped) when node or npm is missing or the packages cannot be installed.
set -uo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed (scripts/install-deps.sh installs them)"
  exit 77
fi
if [ ! -d node_modules/kubernetes-models ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "SKIP: npm ci failed (no npm registry?)"
    exit 77
  fi
fi
exec node --test
