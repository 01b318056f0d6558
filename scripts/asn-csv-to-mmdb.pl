#!/usr/bin/perl
# Builds an ASN MaxMind DB (.mmdb) for the agent's geoip-asn-db from CSV
# files in ip-location-db's ASN layout (npm package @ip-location-db/asn):
#
#   ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization
#   1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
#
# one range per line, inclusive, IPv4 or IPv6, organisation quoted as in
# RFC 4180 when it holds a comma or a quote. The database has GeoLite2-ASN
# fields (autonomous_system_number as uint32, autonomous_system_organization)
# and database_type "Shadowmap-ASN". scripts/install-geo.sh runs it.
#
#   usage: asn-csv-to-mmdb.pl [--description TEXT] OUT.mmdb IN.csv...
# Needs Debian's libmaxmind-db-writer-perl. Exit 0, or 1 with FILE:LINE: reason.
use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use MaxMind::DB::Writer::Tree;

my $description = 'AS numbers and organisations';
GetOptions('description=s' => \$description)
    or die "usage: asn-csv-to-mmdb.pl [--description TEXT] OUT.mmdb IN.csv...\n";
my $out = shift @ARGV;
die "usage: asn-csv-to-mmdb.pl [--description TEXT] OUT.mmdb IN.csv...\n" unless $out && @ARGV;

my %types = (
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 28,
    database_type         => 'Shadowmap-ASN',
    languages             => ['en'],
    description           => { en => $description },
    map_key_type_callback => sub { $types{ $_[0] } },
    # reserved ranges (private, documentation, ...) are left out
    remove_reserved_networks => 1,
);

# One CSV line: plain fields, or quoted ones with "" for a quote.
sub csv_fields {
    my ($line) = @_;
    my @f;
    while (1) {
        if ($line =~ s/^"((?:[^"]|"")*)"(,|$)//) {
            my ($v, $sep) = ($1, $2);
            $v =~ s/""/"/g;
            push @f, $v;
            last if $sep eq '';
        } elsif ($line =~ s/^([^,"]*)(,|$)//) {
            my ($v, $sep) = ($1, $2);
            push @f, $v;
            last if $sep eq '';
        } else {
            return;
        }
    }
    return @f;
}

my ($rows, %orgs) = (0);
for my $in (@ARGV) {
    open(my $fh, '<:encoding(UTF-8)', $in) or die "asn-csv-to-mmdb: $in: $!\n";
    while (my $line = <$fh>) {
        $line =~ s/\r?\n\z//;
        next if $line eq '' || $line =~ /^ip_range_start,/;
        my ($first, $last, $asn, $org) = csv_fields($line);
        die "asn-csv-to-mmdb: $in:$.: expected 4 fields\n" unless defined $org;
        die "asn-csv-to-mmdb: $in:$.: bad AS number \"$asn\"\n"
            unless $asn =~ /^\d{1,10}\z/ && $asn <= 4294967295;
        next if $asn == 0;  # AS0: not routed, nobody's network
        my %rec = (autonomous_system_number => $asn + 0);
        $rec{autonomous_system_organization} = $org if $org ne '';
        eval { $tree->insert_range($first, $last, \%rec); 1 }
            or die "asn-csv-to-mmdb: $in:$.: $first - $last: $@";
        $rows++;
    }
    close $fh;
}
die "asn-csv-to-mmdb: no ranges in @ARGV\n" unless $rows;

my $tmp = "$out.tmp$$";
open(my $w, '>:raw', $tmp) or die "asn-csv-to-mmdb: $tmp: $!\n";
$tree->write_tree($w);
close($w) or die "asn-csv-to-mmdb: $tmp: $!\n";
rename($tmp, $out) or die "asn-csv-to-mmdb: $out: $!\n";
print "asn-csv-to-mmdb: $out: $rows ranges\n";
exit 0;
