/*
 * Signatures from the collector: at start, an agent with fetch-signatures
 * asks the collector for its signature set (GET /api/v1/signatures, with
 * the ETag of the copy it has, so an unchanged set costs a 304) and keeps
 * it in a directory of its own, so that every agent of an organisation
 * names apps with the same knowledge as the collector, local apps included.
 */
#ifndef SHADOWMAP_SIGFETCH_H
#define SHADOWMAP_SIGFETCH_H

#include <stddef.h>

enum sigfetch_result {
	SIGFETCH_UPDATED = 1,   /* a new set is in dir */
	SIGFETCH_UNCHANGED = 0, /* the collector has what dir holds */
	SIGFETCH_FAILED = -1,   /* err says why; dir is as it was */
};

/*
 * Fetches the collector's signatures into dir/signatures (dir is created;
 * the ETag is kept in dir/signatures.etag). base_url is the collector's
 * URL as given to --collector; token its agent token; ca_file a CA bundle
 * or NULL. A new set replaces the old only once it is complete on disk
 * and loads cleanly (every file checked by the signature loader), so a
 * broken download never leaves the agent without signatures. libcurl must
 * be initialised (ship_global_init).
 */
enum sigfetch_result sigfetch_update(const char *base_url, const char *token,
				     const char *ca_file, const char *dir, char *err,
				     size_t errlen);

#endif
