/*
 * RFC 3339 time stamps in UTC, computed with integer arithmetic (no
 * gmtime/timegm, no TZ environment involved) so results never depend on
 * the machine's locale or time zone.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shadowmap/timefmt.h"

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Writes v as exactly n decimal digits (v < 10^n). */
static char *
put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/* By hand, not snprintf: the agent writes three of these per summary. */
char *
time_format_rfc3339(int64_t usec, int frac_digits, char *out)
{
	int64_t secs = floor_div(usec, USEC_PER_SEC);
	int64_t frac = usec - secs * USEC_PER_SEC;
	int64_t days = floor_div(secs, 86400);
	int64_t sod = secs - days * 86400;
	int64_t y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		out[0] = '\0';
		return out;
	}
	char *p = put_digits(out, (unsigned)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)(sod / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(sod / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(sod % 60), 2);
	if (frac_digits == 3) {
		*p++ = '.';
		p = put_digits(p, (unsigned)(frac / 1000), 3);
	} else if (frac_digits == 6) {
		*p++ = '.';
		p = put_digits(p, (unsigned)frac, 6);
	}
	*p++ = 'Z';
	*p = '\0';
	return out;
}

/* Reads exactly n digits. */
static int
read_digits(const char **p, int n, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		x = x * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

static int
days_in_month(int64_t y, unsigned m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

int
time_parse_rfc3339(const char *s, int64_t *usec)
{
	const char *p = s;
	unsigned y, mo, d, h = 0, mi = 0, se = 0;
	int64_t frac = 0;
	int64_t offset = 0;

	if (read_digits(&p, 4, &y) < 0 || *p++ != '-' || read_digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || read_digits(&p, 2, &d) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || (int)d > days_in_month(y, mo))
		return -1;
	if (*p == '\0')
		goto done;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (read_digits(&p, 2, &h) < 0 || *p++ != ':' || read_digits(&p, 2, &mi) < 0 ||
	    *p++ != ':' || read_digits(&p, 2, &se) < 0)
		return -1;
	/* 60 is a leap second; we fold it into the next second */
	if (h > 23 || mi > 59 || se > 60)
		return -1;
	if (*p == '.') {
		p++;
		int digits = 0;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (digits < 6) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits++ < 6)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		unsigned oh, om;
		p++;
		if (read_digits(&p, 2, &oh) < 0 || *p++ != ':' || read_digits(&p, 2, &om) < 0 ||
		    oh > 23 || om > 59)
			return -1;
		offset = sign * ((int64_t)oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
done:;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
	*usec = secs * USEC_PER_SEC + frac;
	return 0;
}

int64_t
time_bucket_start(int64_t t, int64_t bucket_usec)
{
	return floor_div(t, bucket_usec) * bucket_usec;
}
