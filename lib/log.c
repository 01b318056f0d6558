/*
 * One-line messages on stderr with the program's name, for daemons run
 * under systemd (which timestamps them) and for people at a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shadowmap/log.h"

static const char *log_progname = "shadowmap";
static enum log_level log_level = LOG_LEVEL_INFO;

void
log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

static void
log_vemit(const char *tag, const char *fmt, va_list ap, int with_errno)
{
	/* Format into one buffer and write it at once, so that lines from
	 * several processes sharing stderr do not interleave. */
	char line[2048];
	int saved_errno = errno;
	int n = snprintf(line, sizeof(line), "%s: %s", log_progname, tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m > 0)
		n += m;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	if (with_errno) {
		int k = snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
				 strerror(saved_errno));
		if (k > 0)
			n += k;
		if ((size_t)n >= sizeof(line) - 1)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	if (log_level < LOG_LEVEL_WARN)
		return;
	va_start(ap, fmt);
	log_vemit("warning: ", fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	if (log_level < LOG_LEVEL_WARN)
		return;
	va_start(ap, fmt);
	log_vemit("warning: ", fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	if (log_level < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	log_vemit("", fmt, ap, 0);
	va_end(ap);
}

void
log_debug_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit("debug: ", fmt, ap, 0);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit("error: ", fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit("error: ", fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit("error: ", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

int
log_ratelimit_pass(struct log_ratelimit *rl, unsigned long *suppressed)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	long long now = (long long)ts.tv_sec;
	int interval = rl->interval > 0 ? rl->interval : 60;
	if (rl->last != 0 && now - rl->last < interval) {
		rl->suppressed++;
		return 0;
	}
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->last = now;
	return 1;
}
