#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of shadowmap from Debian's archive.
# Safe to run again: apt-get skips what is already there.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  libpcap-dev libndpi-dev libndpi-bin libgcrypt20-dev
  libfyaml-dev libpsl-dev publicsuffix libjansson-dev
  libcmocka-dev
  tcpdump tcpreplay iproute2 python3
)

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}"
