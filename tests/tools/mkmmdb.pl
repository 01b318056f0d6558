#!/usr/bin/perl
# Builds small MaxMind DB files for the geolocation tests, so that no test
# needs a downloaded database. The networks come from a table
# (tests/tools/geo_networks.tsv: network, country, asn, as_org, "-" for
# none); every file is written in OUTDIR:
#
#   country.mmdb       GeoLite2 layout (country.iso_code), IPv6 tree with IPv4
#                      in it; 198.18.0.0/15 has only registered_country (CA)
#   country-flat.mmdb  ip-location-db layout (country_code), type "country ipvAll"
#   country-v4.mmdb    GeoLite2 layout, an IPv4-only tree (IPv4 rows only)
#   asn.mmdb           GeoLite2-ASN layout (autonomous_system_number as uint32,
#                      autonomous_system_organization)
#   asn-text.mmdb      the same with the number as text ("AS64500"), type
#                      "asn ipvAll"
#   city-nofields.mmdb a "City" database whose records have no country at all
#
#   usage: mkmmdb.pl [--networks FILE] OUTDIR
# Needs Debian's libmaxmind-db-writer-perl. Exit 0, or 1 with a message.
use strict;
use warnings;
use utf8;

use File::Basename qw(dirname);
use Getopt::Long qw(GetOptions);
use MaxMind::DB::Writer::Tree;

my $networks = dirname(__FILE__) . '/geo_networks.tsv';
GetOptions('networks=s' => \$networks) or die "usage: mkmmdb.pl [--networks FILE] OUTDIR\n";
my $out = shift @ARGV or die "usage: mkmmdb.pl [--networks FILE] OUTDIR\n";
-d $out or die "mkmmdb: $out: not a directory\n";

my %types = (
    country                        => 'map',
    registered_country             => 'map',
    city                           => 'map',
    names                          => 'map',
    en                             => 'utf8_string',
    iso_code                       => 'utf8_string',
    country_code                   => 'utf8_string',
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);

# Rows, least specific first within each family, so that a more specific
# network overwrites the wider one it lies in (the last insert wins).
my @rows;
open(my $fh, '<:encoding(UTF-8)', $networks) or die "mkmmdb: $networks: $!\n";
while (my $line = <$fh>) {
    chomp $line;
    next if $line =~ /^\s*(#|$)/;
    my ($net, $cc, $asn, $org) = split /\t/, $line, -1;
    die "mkmmdb: $networks:$.: expected 4 tab-separated fields\n" unless defined $org;
    my ($addr, $len) = split m{/}, $net;
    die "mkmmdb: $networks:$.: bad network $net\n" unless defined $len && $len =~ /^\d+$/;
    push @rows, {
        net => $net, v6 => ($addr =~ /:/ ? 1 : 0), len => $len,
        cc => ($cc eq '-' ? undef : $cc), asn => ($asn eq '-' ? undef : $asn),
        org => ($org eq '-' ? undef : $org),
    };
}
close $fh;
@rows = sort { $a->{v6} <=> $b->{v6} || $a->{len} <=> $b->{len} } @rows;

sub tree {
    my ($type, %more) = @_;
    return MaxMind::DB::Writer::Tree->new(
        ip_version               => 6,
        record_size              => 24,
        database_type            => $type,
        languages                => ['en'],
        description              => { en => "shadowmap test data ($type)" },
        map_key_type_callback    => sub { $types{ $_[0] } },
        remove_reserved_networks => 0,  # the documentation ranges are reserved
        %more,
    );
}

sub write_tree {
    my ($tree, $name) = @_;
    open(my $w, '>:raw', "$out/$name") or die "mkmmdb: $out/$name: $!\n";
    $tree->write_tree($w);
    close($w) or die "mkmmdb: $out/$name: $!\n";
}

my $country = tree('ShadowmapTest-Country');
my $flat = tree('country ipvAll');
my $v4 = tree('ShadowmapTest-Country', ip_version => 4);
my $asn = tree('ShadowmapTest-ASN');
my $asn_text = tree('asn ipvAll',
    map_key_type_callback => sub {
        $_[0] eq 'autonomous_system_number' ? 'utf8_string' : $types{ $_[0] };
    });
my $city = tree('ShadowmapTest-City');

for my $r (@rows) {
    if (defined $r->{cc}) {
        my $rec = { country => { iso_code => $r->{cc}, names => { en => "Country $r->{cc}" } } };
        $country->insert_network($r->{net}, $rec);
        $flat->insert_network($r->{net}, { country_code => $r->{cc} });
        $v4->insert_network($r->{net}, $rec) unless $r->{v6};
        $city->insert_network($r->{net}, { city => { names => { en => "City of $r->{cc}" } } });
    }
    if (defined $r->{asn}) {
        my %rec = (autonomous_system_number => $r->{asn} + 0);
        $rec{autonomous_system_organization} = $r->{org} if defined $r->{org};
        $asn->insert_network($r->{net}, \%rec);
        $asn_text->insert_network($r->{net}, { %rec, autonomous_system_number => "AS$r->{asn}" });
    }
}
# A network located nowhere but registered somewhere (as GeoLite2 has).
$country->insert_network('198.18.0.0/15', { registered_country => { iso_code => 'CA' } });

write_tree($country, 'country.mmdb');
write_tree($flat, 'country-flat.mmdb');
write_tree($v4, 'country-v4.mmdb');
write_tree($asn, 'asn.mmdb');
write_tree($asn_text, 'asn-text.mmdb');
write_tree($city, 'city-nofields.mmdb');
exit 0;
