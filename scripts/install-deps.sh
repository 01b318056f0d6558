#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of shadowmap from
# Debian's archive (bookworm). Safe to run again: apt-get skips what is there.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  libpcap-dev libndpi-dev libndpi-bin libgcrypt20-dev
  libfyaml-dev libpsl-dev publicsuffix libjansson-dev
  libcmocka-dev
  libmaxminddb-dev mmdb-bin libmaxmind-db-writer-perl
  libsqlite3-dev sqlite3 libmicrohttpd-dev libcurl4-openssl-dev zlib1g-dev
  openssl ca-certificates curl
  python3 python3-cryptography python3-yaml
  tcpdump tcpreplay iproute2 time
  chromium chromium-driver
)

# npm fetches the geolocation databases (scripts/install-geo.sh). Debian's,
# unless an npm is there already (a Node.js from elsewhere bundles its own,
# and Debian's npm package would conflict with it).
if ! command -v npm >/dev/null 2>&1; then
  pkgs+=(npm)
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
