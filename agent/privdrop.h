/*
 * Dropping root after the capture is open (see privdrop.c).
 */
#ifndef SHADOWMAP_PRIVDROP_H
#define SHADOWMAP_PRIVDROP_H

#include <stddef.h>

/*
 * Becomes user (its uid, its primary group, no supplementary groups, no
 * capabilities, no way back, no new privileges through exec), after
 * handing paths (NULL-terminated; files or directories, the latter two
 * levels deep, links not followed) to that user. Running as that user
 * already is fine. 0, or -1 with a one-line reason in err; on error the
 * process may be half-way and must exit.
 */
int privdrop(const char *user, const char *const *paths, char *err, size_t errlen);

#endif
