/*
 * Reading a whole small file (a YAML file, a PEM key, a signature file to
 * serve) into memory, with a bound and one-line errors that name the file.
 */
#ifndef SHADOWMAP_FILEIO_H
#define SHADOWMAP_FILEIO_H

#include <stddef.h>

/*
 * Reads the regular file path, at most max bytes. Returns a buffer the
 * caller frees, NUL-terminated (the NUL not counted in *len), or NULL with
 * "PATH: reason" in err (cannot open, not a regular file, larger than the
 * bound, cannot read, out of memory). A file that shrinks while it is read
 * gives what was there.
 */
char *file_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
