/*
 * fileio.h: the one place that reads a whole file, so that every loader
 * refuses the same things with the same words, and the one write loop and
 * mkdir -p of the spool, the signature fetch and the parse cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shadowmap/fileio.h"

char *
file_read_fd(int fd, const char *name, size_t max, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	*len = 0;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", name);
		return NULL;
	}
	if (st.st_size > (off_t)max) {
		if (max % (1u << 20) == 0)
			snprintf(err, errlen, "%s: larger than %zu MiB", name, max >> 20);
		else
			snprintf(err, errlen, "%s: larger than %zu bytes", name, max);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break; /* shrank under us: what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

char *
file_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = file_read_fd(fd, path, max, len, err, errlen);
	close(fd);
	return buf;
}

int
file_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
file_mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		buf[i] = saved;
	}
	return 0;
}
