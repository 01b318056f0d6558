/*
 * Giving up root once the capture is open (tcpdump -Z): the parsers, nDPI
 * and the QUIC decryption then run as an unprivileged user without
 * capabilities, so a bug in code that reads hostile packets cannot become
 * root. What the agent still writes (the spool, its outputs) is handed to
 * that user first.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privdrop.h"

/* chown of a directory the agent owns and what is in it, two levels deep
 * (spool/, spool/rejected/, spool/signatures/apps/): it never follows
 * links, so a link planted in the spool cannot hand over other files. */
static int
chown_tree(const char *path, uid_t uid, gid_t gid, int depth, char *err, size_t errlen)
{
	struct stat stb;
	if (lstat(path, &stb) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(stb.st_mode))
		return 0;
	if (lchown(path, uid, gid) < 0) {
		snprintf(err, errlen, "%s: cannot hand over to uid %u: %s", path, (unsigned)uid,
			 strerror(errno));
		return -1;
	}
	if (!S_ISDIR(stb.st_mode) || depth <= 0)
		return 0;
	DIR *d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[4096];
		int n = snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub))
			continue;
		rc = chown_tree(sub, uid, gid, depth - 1, err, errlen);
	}
	closedir(d);
	return rc;
}

int
privdrop(const char *user, const char *const *paths, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "user \"%s\": no such user", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root: nothing would be dropped", user);
		return -1;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0; /* already that user */
		snprintf(err, errlen, "cannot become \"%s\": not running as root", user);
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	for (size_t i = 0; paths && paths[i]; i++) {
		if (chown_tree(paths[i], uid, gid, 3, err, errlen) < 0)
			return -1;
	}
	/* groups first, while still allowed; then the gid; the uid last */
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "cannot become \"%s\": %s", user, strerror(errno));
		return -1;
	}
	/* make sure there is no way back, and no gaining through exec */
	if (setuid(0) == 0 || getuid() != uid || geteuid() != uid || getegid() != gid) {
		snprintf(err, errlen, "dropping to \"%s\" did not stick", user);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}
