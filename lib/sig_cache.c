/*
 * A cache of parsed signature files (sig_load.c), so that a start of the
 * agent decodes the trees of unchanged files instead of parsing them again
 * with libfyaml (some 180 M instructions for the built-in set). Entries are
 * named by a hash of the file's bytes; a missing or bad entry only costs
 * the parse, and nothing about the cache ever fails a load.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shadowmap/fileio.h"
#include "shadowmap/hash.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/yaml.h"
#include "sig_int.h"

/* An entry holds at most the nodes and the text of a SIG_FILE_MAX file. */
#define ENTRY_MAX ((size_t)SIG_FILE_MAX * 2)
#define ENTRY_SUFFIX ".yt"
#define ENTRY_NAME_LEN (16 + sizeof(ENTRY_SUFFIX) - 1)
#define TMP_SUFFIX ".tmp"
/* A writer keeps its temporary file for milliseconds; one this old was
 * left by a process that died between open and rename. */
#define TMP_STALE_SECONDS 3600

struct sig_cache {
	int dirfd;
	uint64_t *used; /* keys this load read or wrote: they survive the prune */
	size_t n_used, cap_used;
};

struct sig_cache *
sig_cache_open(const char *dir, char *err, size_t errlen)
{
	struct sig_cache *c = NULL;
	struct stat st;
	int fd;

	/* each new level 0700; what exists already is checked below */
	if (file_mkdir_p(dir, 0700) < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
		return NULL;
	}
	/* Checked through the descriptor that is then used: no rename in
	 * between can swap the directory for another. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", dir, strerror(errno));
		goto fail;
	}
	/* Whoever can write here decides what the signatures say. */
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: not used: owned by another user or writable by others",
			 dir);
		goto fail;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", dir);
		goto fail;
	}
	c->dirfd = fd;
	return c;
fail:
	close(fd);
	return NULL;
}

void
sig_cache_free(struct sig_cache *c)
{
	if (!c)
		return;
	close(c->dirfd);
	free(c->used);
	free(c);
}

uint64_t
sig_cache_key(const void *data, size_t len)
{
	/*
	 * A fixed key: names must be the same from one run to the next. 64
	 * bits are enough because the directory is private to its user (see
	 * sig_cache_open): no one else can plant a colliding entry, and an
	 * accidental collision among a few thousand files is about 2^-40.
	 * The length and the tree format are hashed too, so that a new format
	 * gets new names and the old entries are pruned.
	 */
	static const struct hash_key key = { 0x73686164776d6170ull, 0x7369672d63616368ull };
	uint64_t tail[3] = { hash_bytes(&key, data, len), (uint64_t)len, YAML_TREE_VERSION };

	return hash_bytes(&key, tail, sizeof(tail));
}

static void
entry_name(char *buf, size_t size, uint64_t key)
{
	snprintf(buf, size, "%016llx" ENTRY_SUFFIX, (unsigned long long)key);
}

int
sig_cache_get(struct sig_cache *c, uint64_t key, struct ynode **root)
{
	char name[32];
	char *buf;
	size_t len;
	int fd, rc = -1;

	*root = NULL;
	entry_name(name, sizeof(name), key);
	fd = openat(c->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* an empty or cut entry is refused by the decoder */
	buf = file_read_fd(fd, name, ENTRY_MAX, &len, NULL, 0);
	if (buf)
		rc = yaml_tree_decode(buf, len, root, NULL, 0);
	free(buf);
	close(fd);
	return rc;
}

void
sig_cache_put(struct sig_cache *c, uint64_t key, const struct ynode *root)
{
	static atomic_uint serial;
	char name[32], tmp[96];
	struct sbuf sb;
	int fd;

	sbuf_init(&sb, ENTRY_MAX);
	if (yaml_tree_encode(root, &sb) < 0)
		goto out;
	entry_name(name, sizeof(name), key);
	/* Written aside and renamed, so that a reader (another agent
	 * starting) sees a whole entry or none; the name is unique to this
	 * process and call, and ends otherwise than an entry's, so a prune
	 * leaves it alone until it is TMP_STALE_SECONDS old. */
	snprintf(tmp, sizeof(tmp), "%s.%ld.%u" TMP_SUFFIX, name, (long)getpid(),
		 atomic_fetch_add(&serial, 1));
	fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	int bad = file_write_all(fd, sb.data, sb.len) < 0;
	if (close(fd) < 0 || bad || renameat(c->dirfd, tmp, c->dirfd, name) < 0)
		unlinkat(c->dirfd, tmp, 0);
out:
	sbuf_free(&sb);
}

int
sig_cache_note_used(struct sig_cache *c, uint64_t key)
{
	if (c->n_used == c->cap_used) {
		size_t want = c->cap_used ? c->cap_used * 2 : 256;
		uint64_t *v = realloc(c->used, want * sizeof(*v));
		if (!v)
			return -1;
		c->used = v;
		c->cap_used = want;
	}
	c->used[c->n_used++] = key;
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The key of an entry's name, or -1 for any other name. */
static int
entry_key(const char *name, uint64_t *key)
{
	*key = 0;
	if (strlen(name) != ENTRY_NAME_LEN || strcmp(name + 16, ENTRY_SUFFIX) != 0)
		return -1;
	for (int i = 0; i < 16; i++) {
		char ch = name[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return -1;
		*key = *key << 4 | d;
	}
	return 0;
}

/* A temporary file of a writer that died: an entry's name, a dot, then
 * anything, ending in TMP_SUFFIX, and older than any live writer's. */
static int
stale_tmp(int dirfd, const char *name)
{
	size_t len = strlen(name), sl = sizeof(TMP_SUFFIX) - 1;
	uint64_t key;
	char head[ENTRY_NAME_LEN + 1];
	struct stat st;

	if (len <= ENTRY_NAME_LEN + sl || name[ENTRY_NAME_LEN] != '.' ||
	    strcmp(name + len - sl, TMP_SUFFIX) != 0)
		return 0;
	memcpy(head, name, ENTRY_NAME_LEN);
	head[ENTRY_NAME_LEN] = '\0';
	if (entry_key(head, &key) < 0)
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return time(NULL) - st.st_mtime > TMP_STALE_SECONDS;
}

void
sig_cache_prune(struct sig_cache *c)
{
	struct dirent *de;
	DIR *d;
	int fd;

	/* Without the list of what was used, everything would look stale. */
	if (c->n_used == 0)
		return;
	fd = dup(c->dirfd);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	qsort(c->used, c->n_used, sizeof(*c->used), key_cmp);
	while ((de = readdir(d)) != NULL) {
		uint64_t key;
		if (entry_key(de->d_name, &key) < 0) {
			if (stale_tmp(c->dirfd, de->d_name))
				unlinkat(c->dirfd, de->d_name, 0);
			continue;
		}
		if (!bsearch(&key, c->used, c->n_used, sizeof(*c->used), key_cmp))
			unlinkat(c->dirfd, de->d_name, 0);
	}
	closedir(d);
}
