/*
 * Reading a whole small file (a YAML file, a PEM key, a signature file to
 * serve) into memory, with a bound and one-line errors that name the file;
 * writing a buffer out whole; making a private directory with its parents.
 */
#ifndef SHADOWMAP_FILEIO_H
#define SHADOWMAP_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads the regular file path, at most max bytes. Returns a buffer the
 * caller frees, NUL-terminated (the NUL not counted in *len), or NULL with
 * "PATH: reason" in err (cannot open, not a regular file, larger than the
 * bound, cannot read, out of memory). A file that shrinks while it is read
 * gives what was there.
 */
char *file_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* The same on a descriptor the caller opened (and closes); name stands for
 * the file in messages. */
char *file_read_fd(int fd, const char *name, size_t max, size_t *len, char *err, size_t errlen);

/* Writes all len bytes, whatever write() takes at a time. 0, or -1 with
 * errno set. */
int file_write_all(int fd, const void *data, size_t len);

/* Creates path and its missing parents with mode; existing ones are left
 * as they are. 0, or -1 with errno set. */
int file_mkdir_p(const char *path, mode_t mode);

#endif
