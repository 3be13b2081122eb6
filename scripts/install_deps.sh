#!/usr/bin/env bash
# Installs the Debian 12 packages paratune needs, only those that are missing (run as root).
#   PARATUNE_WITH_TORCH=OFF bash scripts/install_deps.sh   # planning libraries only
set -euo pipefail
pkgs=(cmake g++ make nlohmann-json3-dev libcxxopts-dev libgtest-dev libbenchmark-dev)
if [[ "${PARATUNE_WITH_TORCH:-ON}" != "OFF" ]]; then
  # libopenblas0-pthread: without it Debian's libtorch uses reference BLAS (~25x slower).
  pkgs+=(libtorch-dev libgloo-dev libopenblas0-pthread libeigen3-dev iproute2)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "paratune: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "paratune: need root to install packages (run as root or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "paratune: all packages present"
fi
