/*
 * Logging for every shadowmap program, in the style of OpenBSD's log.h:
 * one line per message on stderr, prefixed with the program name.
 * Levels are checked before formatting, so debug calls in hot paths are cheap.
 */
#ifndef SHADOWMAP_LOG_H
#define SHADOWMAP_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* progname is not copied: pass a string that lives as long as the program. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug_(const char *fmt, ...) LOG_PRINTF(1, 2);
/* An error the program survives (it reports it and goes on or exits itself). */
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Print and exit(1); fatal appends strerror(errno). */
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#define log_debug(...)                                                  \
	do {                                                            \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                 \
			log_debug_(__VA_ARGS__);                        \
	} while (0)

/*
 * Rate limit for messages that bad input could repeat per packet: at most
 * one message per interval (seconds, wall clock); the number suppressed
 * since the last one is returned by log_ratelimit_pass through *suppressed.
 */
struct log_ratelimit {
	long long last;
	unsigned long suppressed;
	int interval;
};
/* Returns 1 when the caller may log now; *suppressed gets the count skipped. */
int log_ratelimit_pass(struct log_ratelimit *rl, unsigned long *suppressed);

#endif
