/*
 * The agent's copy of the collector's signatures (sigfetch.h). The answer
 * is untrusted like any network input: its size is capped, every path is
 * checked (relative, plain names, a YAML suffix, no "..") before a byte is
 * written, and the new set is loaded once by the real loader before it
 * replaces the old one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "shadowmap/fileio.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/sig.h"

#include "sigfetch.h"

#define SIGFETCH_MAX_BYTES ((size_t)64 << 20) /* the whole answer */
#define SIGFETCH_MAX_FILES 10000
#define SIGFETCH_PATH_MAX 256
#define ETAG_MAX 256

struct answer {
	struct sbuf body;
	char etag[ETAG_MAX];
	int too_big;
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;
	if (a->body.len + len > SIGFETCH_MAX_BYTES) {
		a->too_big = 1;
		return 0; /* aborts the transfer */
	}
	return sbuf_add(&a->body, data, len) < 0 ? 0 : len;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;
	if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
		const char *v = data + 5;
		size_t vl = len - 5;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(a->etag)) {
			memcpy(a->etag, v, vl);
			a->etag[vl] = '\0';
		}
	}
	return len;
}

/* A path the server may name: "apps/x.yaml"; plain components only. */
static int
path_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n >= SIGFETCH_PATH_MAX || p[0] == '/' || p[n - 1] == '/')
		return 0;
	if (!((n > 5 && strcmp(p + n - 5, ".yaml") == 0) || (n > 4 && strcmp(p + n - 4, ".yml") == 0)))
		return 0;
	int depth = 0;
	const char *c = p;
	while (*c) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || c[0] == '.' || ++depth > 4)
			return 0;
		for (size_t i = 0; i < len; i++) {
			char ch = c[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
				return 0;
		}
		c += len + (end ? 1 : 0);
	}
	return 1;
}

static int
mkdirs_for(const char *root, const char *rel, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "%s/%s: path too long", root, rel);
		return -1;
	}
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
			return -1;
		}
		*s = '/';
	}
	return 0;
}

static int
write_file(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (file_write_all(fd, data, len) < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* rm -r of a directory this module made (plain files and directories). */
static void
remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char sub[PATH_MAX];
			int n = snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (n < 0 || (size_t)n >= sizeof(sub))
				continue;
			struct stat stb;
			if (lstat(sub, &stb) == 0 && S_ISDIR(stb.st_mode))
				remove_tree(sub);
			else
				unlink(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static int
load_check(const char *dir, char *err, size_t errlen)
{
	sig_db *db = sig_db_new();
	char why[512];
	int rc = -1;
	if (!db)
		snprintf(err, errlen, "out of memory");
	else if (sig_db_load_path(db, dir, why, sizeof(why)) < 0 ||
		 sig_db_finalize(db, why, sizeof(why)) < 0)
		snprintf(err, errlen, "the collector's signatures do not load: %s", why);
	else
		rc = 0;
	sig_db_free(db);
	return rc;
}

/* Writes the answer's files into a fresh dir/signatures.new. */
static int
unpack(const char *body, size_t len, const char *newdir, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc = -1;
	if (!root) {
		snprintf(err, errlen, "the collector's answer is not JSON: %s (line %d)", jerr.text,
			 jerr.line);
		return -1;
	}
	json_t *schema = json_object_get(root, "schema");
	json_t *files = json_object_get(root, "files");
	if (!json_is_string(schema) ||
	    strcmp(json_string_value(schema), "shadowmap.signatures/1") != 0 ||
	    !json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > SIGFETCH_MAX_FILES) {
		snprintf(err, errlen, "the collector's answer is not a shadowmap.signatures/1 "
			 "document with 1 to %d files", SIGFETCH_MAX_FILES);
		goto out;
	}
	if (mkdir(newdir, 0755) < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", newdir, strerror(errno));
		goto out;
	}
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f) {
		json_t *p = json_object_get(f, "path"), *c = json_object_get(f, "content");
		if (!json_is_string(p) || !json_is_string(c) || !path_ok(json_string_value(p))) {
			snprintf(err, errlen, "the collector's answer: files[%zu] has no usable path "
				 "(relative, plain names, .yaml)", i);
			goto out;
		}
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s", newdir, json_string_value(p));
		if (n < 0 || (size_t)n >= sizeof(path)) {
			snprintf(err, errlen, "%s: path too long", newdir);
			goto out;
		}
		if (mkdirs_for(newdir, json_string_value(p), err, errlen) < 0 ||
		    write_file(path, json_string_value(c), json_string_length(c), err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

enum sigfetch_result
sigfetch_update(const char *base_url, const char *token, const char *ca_file, const char *dir,
		char *err, size_t errlen)
{
	enum sigfetch_result result = SIGFETCH_FAILED;
	struct answer a;
	char url[2048], etag_path[PATH_MAX], cur[PATH_MAX], newdir[PATH_MAX], olddir[PATH_MAX];
	char old_etag[ETAG_MAX] = "", auth[1024], inm[ETAG_MAX + 32];
	struct curl_slist *h = NULL;
	CURL *c = NULL;

	memset(&a, 0, sizeof(a));
	sbuf_init(&a.body, SIGFETCH_MAX_BYTES);
	size_t bl = strlen(base_url);
	while (bl && base_url[bl - 1] == '/')
		bl--;
	/* --collector may name the ingest path itself */
	static const char ingest[] = "/api/v1/batches";
	if (bl >= sizeof(ingest) - 1 &&
	    strncmp(base_url + bl - (sizeof(ingest) - 1), ingest, sizeof(ingest) - 1) == 0)
		bl -= sizeof(ingest) - 1;
	if (snprintf(url, sizeof(url), "%.*s/api/v1/signatures", (int)bl, base_url) >=
		    (int)sizeof(url) ||
	    snprintf(etag_path, sizeof(etag_path), "%s/signatures.etag", dir) >=
		    (int)sizeof(etag_path) ||
	    snprintf(cur, sizeof(cur), "%s/signatures", dir) >= (int)sizeof(cur) ||
	    snprintf(newdir, sizeof(newdir), "%s/signatures.new", dir) >= (int)sizeof(newdir) ||
	    snprintf(olddir, sizeof(olddir), "%s/signatures.old", dir) >= (int)sizeof(olddir) ||
	    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >= (int)sizeof(auth)) {
		snprintf(err, errlen, "collector URL, token or directory too long");
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
		goto out;
	}
	/* the ETag counts only when the set it names is still there */
	FILE *fp = access(cur, F_OK) == 0 ? fopen(etag_path, "r") : NULL;
	if (fp) {
		if (!fgets(old_etag, sizeof(old_etag), fp))
			old_etag[0] = '\0';
		old_etag[strcspn(old_etag, "\r\n")] = '\0';
		fclose(fp);
	}
	c = curl_easy_init();
	h = curl_slist_append(NULL, auth);
	if (old_etag[0]) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", old_etag);
		struct curl_slist *n = h ? curl_slist_append(h, inm) : NULL;
		if (n)
			h = n;
	}
	if (!c || !h) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	char cerr[CURL_ERROR_SIZE] = "";
	int bad = 0;
	bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (ca_file)
		bad |= curl_easy_setopt(c, CURLOPT_CAINFO, ca_file) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, &a) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, &a) != CURLE_OK;
	if (bad) {
		snprintf(err, errlen, "libcurl refused an option");
		goto out;
	}
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url,
			 a.too_big ? "answer larger than 64 MiB" : cerr[0] ? cerr
									   : curl_easy_strerror(cc));
		goto out;
	}
	if (status == 304) {
		result = SIGFETCH_UNCHANGED;
		goto out;
	}
	if (status != 200) {
		snprintf(err, errlen, "%s: HTTP %ld%s", url, status,
			 status == 401 ? " (missing or unknown token)" : "");
		goto out;
	}
	remove_tree(newdir);
	if (unpack(a.body.data ? a.body.data : "", a.body.len, newdir, err, errlen) < 0 ||
	    load_check(newdir, err, errlen) < 0) {
		remove_tree(newdir);
		goto out;
	}
	/* swap: the old set goes only once the new one is in place */
	remove_tree(olddir);
	if (access(cur, F_OK) == 0 && rename(cur, olddir) < 0) {
		snprintf(err, errlen, "%s: cannot move aside: %s", cur, strerror(errno));
		remove_tree(newdir);
		goto out;
	}
	if (rename(newdir, cur) < 0) {
		snprintf(err, errlen, "%s: cannot put in place: %s", cur, strerror(errno));
		rename(olddir, cur);
		goto out;
	}
	remove_tree(olddir);
	if (a.etag[0] && write_file(etag_path, a.etag, strlen(a.etag), err, errlen) < 0)
		unlink(etag_path); /* next time a full fetch, no harm */
	result = SIGFETCH_UPDATED;
out:
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	sbuf_free(&a.body);
	return result;
}
