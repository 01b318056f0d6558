/*
 * shadowmap-collector: receives agents' usage batches over HTTP(S), keeps
 * them in the store and answers the JSON API (docs/collector.md). This file
 * is the command line (serve, token create/list/revoke), the settings, and
 * the main loop that turns signals into a reload or a clean stop; the work
 * happens in http.c (the server), api.c (the endpoints) and the store.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shadowmap/config.h"
#include "shadowmap/domain.h"
#include "shadowmap/log.h"
#include "shadowmap/timefmt.h"

#include "api.h"
#include "batch.h"
#include "http.h"
#include "store.h"
#include "token.h"

#ifndef SHADOWMAP_VERSION
#define SHADOWMAP_VERSION "dev"
#endif

#define PROGNAME "shadowmap-collector"

/* Exit statuses (docs/collector.md). */
#define EXIT_OK 0
#define EXIT_RUNTIME 1 /* the store, the network, a file at run time */
#define EXIT_USAGE 2   /* bad command line, config, catalog or signatures */

#define TOKEN_NAME_MAX 64

struct settings {
	char *listen;
	char *db;
	char *catalog;
	char *signatures;
	char *signatures_local;
	char *risk_weights;
	char *tls_cert;
	char *tls_key;
	int64_t threads;
	int64_t connection_limit;
	int64_t connection_timeout;
	int64_t shutdown_timeout;
	int64_t db_max_mb;
};

#define OFF(f) offsetof(struct settings, f)

static const struct cfg_option options[] = {
	{ "listen", CFG_STRING, 0, 0, "127.0.0.1:8080", OFF(listen), 0,
	  "address and port to serve on: ADDR:PORT, [IPV6]:PORT, *:PORT for all" },
	{ "db", CFG_PATH, 0, 0, NULL, OFF(db), 0,
	  "the SQLite database (created when missing)" },
	{ "catalog", CFG_PATH, 0, 0, NULL, OFF(catalog), 0,
	  "the organisation's service catalog (signatures/CATALOG.md); reloaded on SIGHUP" },
	{ "signatures", CFG_PATH, 0, 0, NULL, OFF(signatures), 0,
	  "signature directory or file (default: the built-in signatures); reloaded on SIGHUP" },
	{ "signatures-local", CFG_PATH, 0, 0, NULL, OFF(signatures_local), 0,
	  "the organisation's own signatures (file or directory), loaded after the others "
	  "as the agent loads them; reloaded on SIGHUP" },
	{ "risk-weights", CFG_PATH, 0, 0, NULL, OFF(risk_weights), 0,
	  "a YAML file whose risk_weights: mapping weights the dashboard's risk scores "
	  "(signatures/RISK.md), a file of its own; reloaded on SIGHUP" },
	{ "tls-cert", CFG_PATH, 0, 0, NULL, OFF(tls_cert), 0,
	  "serve HTTPS with this PEM certificate (chain)" },
	{ "tls-key", CFG_PATH, 0, 0, NULL, OFF(tls_key), 0,
	  "and this PEM private key" },
	{ "threads", CFG_INT, 1, 256, "4", OFF(threads), 0,
	  "worker threads answering requests" },
	{ "connection-limit", CFG_INT, 1, 100000, "256", OFF(connection_limit), 0,
	  "connections open at once; beyond, new ones are refused" },
	{ "connection-timeout", CFG_SECONDS, 1, 3600, "30", OFF(connection_timeout), 0,
	  "a connection idle this long is closed" },
	{ "shutdown-timeout", CFG_SECONDS, 0, 3600, "30", OFF(shutdown_timeout), 0,
	  "on SIGTERM, wait this long for requests in flight" },
	{ "db-max-mb", CFG_INT, 0, INT64_C(1) << 40, "0", OFF(db_max_mb), 0,
	  "refuse batches (503) once the database reaches this size; 0: no cap" },
	{ NULL, 0, 0, 0, NULL, 0, 0, NULL },
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static void
usage(FILE *fp)
{
	struct sbuf sb;
	sbuf_init(&sb, 1 << 16);
	cfg_help(options, &sb);
	fprintf(fp,
		"usage: " PROGNAME " serve --db PATH [--listen ADDR:PORT] [options]\n"
		"       " PROGNAME " serve -n [-c CONFIG] [options]\n"
		"       " PROGNAME " token create --db PATH (--agent NAME | --reader NAME)\n"
		"       " PROGNAME " token list --db PATH\n"
		"       " PROGNAME " token revoke --db PATH (--agent NAME | --reader NAME)\n"
		"\n"
		"Receives usage batches from shadowmap agents, stores them, and answers\n"
		"the JSON API (docs/collector.md). Logs to standard error; SIGHUP reloads\n"
		"the catalog and signatures, SIGTERM stops after the requests in flight.\n"
		"\n"
		"  -c FILE          read settings from a YAML file (command line wins)\n"
		"  -n, --check      check settings, catalog and signatures, then exit\n"
		"  -q, -v           quieter, more verbose\n"
		"  -V, --version    print the version\n"
		"\nSettings (also keys of the config file):\n%s"
		"\nToken commands take --db (or -c CONFIG with a db key) and, to name a\n"
		"token, --agent NAME or --reader NAME. token create prints the new token\n"
		"alone on its last line; only its SHA-256 is stored.\n",
		sb.data ? sb.data : "");
	sbuf_free(&sb);
}

/*
 * Parses the settings options of argv (and -c CONFIG first, so that the
 * command line wins). extra_short / extra_long add a command's own options;
 * each of those is passed to on_extra. Returns 0, or an exit status.
 */
struct extra_opts {
	const char *shortopts;             /* appended to "c:nqvVh" */
	const struct option *longopts;     /* ends with a zero row; NULL: none */
	int (*on_extra)(void *arg, int c, const char *optarg_text);
	void *arg;
};

struct cli {
	int check_only;
	enum log_level level;
};

static int
parse_settings(int argc, char **argv, struct settings *s, struct cli *cli,
	       const struct extra_opts *extra)
{
	enum { OPT_CHECK = 1000, OPT_VERSION, OPT_HELP, OPT_FIRST_SETTING = 1100 };
	char err[1024], shortopts[64];
	const char *config_path = NULL;
	size_t n_settings = 0, n_extra = 0, k = 0;
	struct option *longopts;
	int c, rc = EXIT_USAGE;

	while (options[n_settings].name)
		n_settings++;
	while (extra && extra->longopts && extra->longopts[n_extra].name)
		n_extra++;
	longopts = calloc(n_settings + n_extra + 4, sizeof(*longopts));
	if (!longopts) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < n_settings; i++)
		longopts[k++] = (struct option){ options[i].name, required_argument, NULL,
						 (int)(OPT_FIRST_SETTING + i) };
	for (size_t i = 0; i < n_extra; i++)
		longopts[k++] = extra->longopts[i];
	longopts[k++] = (struct option){ "check", no_argument, NULL, OPT_CHECK };
	longopts[k++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	longopts[k++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	snprintf(shortopts, sizeof(shortopts), "c:nqvVh%s",
		 extra && extra->shortopts ? extra->shortopts : "");

	/* First pass: only -c, so that the command line overrides the file. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
		if (c == 'c')
			config_path = optarg;
	if (config_path && cfg_load_file(options, s, config_path, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	optind = 0; /* GNU getopt: 0 restarts the scan from scratch */
	opterr = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		char where[96];
		switch (c) {
		case 'c':
			continue;
		case 'n':
		case OPT_CHECK:
			cli->check_only = 1;
			continue;
		case 'q':
			cli->level = LOG_LEVEL_WARN;
			continue;
		case 'v':
			cli->level = LOG_LEVEL_DEBUG;
			continue;
		case 'V':
		case OPT_VERSION:
			printf(PROGNAME " %s\n", SHADOWMAP_VERSION);
			rc = -1; /* done, successfully */
			goto out;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			rc = -1;
			goto out;
		default:
			if (c >= OPT_FIRST_SETTING && c < OPT_FIRST_SETTING + (int)n_settings) {
				const char *name = options[c - OPT_FIRST_SETTING].name;
				snprintf(where, sizeof(where), "--%s", name);
				if (cfg_set(options, s, name, optarg, where, err, sizeof(err)) < 0) {
					log_error("%s", err);
					goto out;
				}
				continue;
			}
			if (c != '?' && extra && extra->on_extra &&
			    extra->on_extra(extra->arg, c, optarg) == 0)
				continue;
			log_error("see --help");
			goto out;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\" (see --help)", argv[optind]);
		goto out;
	}
	log_set_level(cli->level);
	rc = 0;
out:
	free(longopts);
	return rc;
}

/* ---- serve ---- */

/* Everything a check can say about the settings without serving. 0 or an
 * exit status. */
static int
check_settings(const struct settings *s, struct api_knowledge **k_out)
{
	char err[1024];
	char *pem;

	if (http_listen_valid(s->listen, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (!s->tls_cert != !s->tls_key) {
		log_error("TLS needs both tls-cert and tls-key");
		return EXIT_USAGE;
	}
	for (int i = 0; i < 2 && s->tls_cert; i++) {
		pem = http_read_pem(i ? s->tls_key : s->tls_cert, err, sizeof(err));
		if (!pem) {
			log_error("%s", err);
			return EXIT_USAGE;
		}
		free(pem);
	}
	*k_out = api_knowledge_load(s->signatures, s->signatures_local, s->catalog,
				    s->risk_weights, err, sizeof(err));
	if (!*k_out) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	return 0;
}

static void
reload(struct api *api, const struct settings *s)
{
	char err[1024], what[160];
	struct api_knowledge *k;

	log_info("SIGHUP: reloading signatures, catalog and risk weights");
	k = api_knowledge_load(s->signatures, s->signatures_local, s->catalog, s->risk_weights,
			       err, sizeof(err));
	if (!k) {
		log_error("reload: %s; the previous signatures and catalog stay in force", err);
		return;
	}
	api_knowledge_describe(k, what, sizeof(what));
	if (api_set_knowledge(api, k, err, sizeof(err)) < 0)
		log_warnx("reload: %s", err);
	log_info("reloaded: %s", what);
}

static int
run_serve(int argc, char **argv)
{
	struct settings s;
	struct cli cli = { 0, LOG_LEVEL_INFO };
	struct api_knowledge *k = NULL;
	struct api *api = NULL;
	struct http_server *srv = NULL;
	struct http_config hc;
	struct http_handlers hh;
	sigset_t block, waitmask;
	struct sigaction sa;
	char err[1024], what[160];
	int rc;

	memset(&s, 0, sizeof(s));
	if (cfg_defaults(options, &s, err, sizeof(err)) < 0)
		fatalx("%s", err);
	rc = parse_settings(argc, argv, &s, &cli, NULL);
	if (rc != 0) {
		rc = rc < 0 ? EXIT_OK : rc;
		goto out;
	}
	if (token_init() < 0) {
		log_error("libgcrypt failed to initialise (too old?)");
		rc = EXIT_RUNTIME;
		goto out;
	}
	if ((rc = check_settings(&s, &k)) != 0)
		goto out;
	api_knowledge_describe(k, what, sizeof(what));
	if (cli.check_only) {
		if (!s.db)
			log_warnx("no db given: serve needs one");
		log_info("settings, catalog and signatures: OK (%s)", what);
		rc = EXIT_OK;
		goto out;
	}
	if (!s.db) {
		log_error("no database: give --db PATH (see --help)");
		rc = EXIT_USAGE;
		goto out;
	}
	if (domain_init() < 0) {
		log_error("cannot load the public suffix list (libpsl)");
		rc = EXIT_RUNTIME;
		goto out;
	}

	/* Signals are blocked here and in every thread started from now on,
	 * and taken only in sigsuspend below: handlers then never interrupt
	 * a worker, and the flags are checked without a race. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGHUP);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL); /* a client gone mid-answer is an error code */

	api = api_new(s.db, s.db_max_mb * 1024 * 1024, k, err, sizeof(err));
	k = NULL; /* api_new took it */
	if (!api) {
		log_error("%s", err);
		rc = EXIT_RUNTIME;
		goto out;
	}
	memset(&hc, 0, sizeof(hc));
	hc.listen = s.listen;
	hc.tls_cert_path = s.tls_cert;
	hc.tls_key_path = s.tls_key;
	hc.threads = (unsigned)s.threads;
	hc.connection_limit = (unsigned)s.connection_limit;
	hc.connection_timeout = (unsigned)s.connection_timeout;
	hc.body_max = BATCH_BODY_MAX;
	api_http_handlers(api, &hh);
	srv = http_start(&hc, &hh, err, sizeof(err));
	if (!srv) {
		log_error("%s", err);
		rc = EXIT_RUNTIME;
		goto out;
	}
	{
		/* the address as given, the port as bound (port 0 picks one) */
		const char *colon = strrchr(s.listen, ':');
		int host_len = colon ? (int)(colon - s.listen) : 0;
		log_info("listening on %.*s port %u (%s); %s; database %s", host_len, s.listen,
			 http_port(srv), s.tls_cert ? "https" : "http", what, s.db);
	}

	while (!stop_requested) {
		sigsuspend(&waitmask);
		if (reload_requested && !stop_requested) {
			reload_requested = 0;
			reload(api, &s);
		}
	}
	log_info("stopping: no new connections or batches; waiting up to %llds for requests "
		 "in flight", (long long)s.shutdown_timeout);
	/* batches already queued are committed and acknowledged; later ones
	 * get a 503 and are sent again, to the next collector */
	api_quiesce(api);
	unsigned left = http_stop(srv, (unsigned)(s.shutdown_timeout * 1000));
	srv = NULL;
	if (left)
		log_warnx("stopped with %u requests unanswered (their batches, if any, were "
			  "either stored or not: agents retry, duplicates are recognised)", left);
	rc = EXIT_OK;
out:
	http_stop(srv, 0);
	api_free(api); /* closes the store: everything acknowledged is committed */
	api_knowledge_release(k);
	domain_cleanup();
	cfg_free(options, &s);
	if (rc == EXIT_OK && !cli.check_only && stop_requested)
		log_info("stopped");
	return rc;
}

/* ---- token commands ---- */

struct token_args {
	const char *agent;
	const char *reader;
};

static int
token_extra(void *arg, int c, const char *text)
{
	struct token_args *t = arg;
	if (c == 'A')
		t->agent = text;
	else if (c == 'R')
		t->reader = text;
	else
		return -1;
	return 0;
}

static int
token_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > TOKEN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@'))
			return 0;
	}
	return 1;
}

static int
print_token(void *arg, const struct store_token *t)
{
	char created[TIMEFMT_LEN], used[TIMEFMT_LEN];
	(void)arg;
	time_format_rfc3339(t->created, 0, created);
	if (t->last_used)
		time_format_rfc3339(t->last_used, 0, used);
	else
		snprintf(used, sizeof(used), "never");
	printf("%-24s %-7s %-21s %-21s %s\n", t->name,
	       t->role == STORE_ROLE_AGENT ? "agent" : "reader", created, used,
	       t->revoked ? "revoked" : "live");
	return 0;
}

static int
run_token(int argc, char **argv)
{
	static const struct option token_longopts[] = {
		{ "agent", required_argument, NULL, 'A' },
		{ "reader", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct settings s;
	struct cli cli = { 0, LOG_LEVEL_INFO };
	struct token_args ta = { NULL, NULL };
	struct extra_opts extra = { "", token_longopts, token_extra, &ta };
	struct store *st = NULL;
	const char *cmd, *name = NULL;
	enum store_role role = STORE_ROLE_AGENT;
	char err[1024];
	int rc;

	memset(&s, 0, sizeof(s));
	if (cfg_defaults(options, &s, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (argc < 2 || argv[1][0] == '-') {
		log_error("token: expected create, list or revoke (see --help)");
		rc = EXIT_USAGE;
		goto out;
	}
	cmd = argv[1];
	if (strcmp(cmd, "create") != 0 && strcmp(cmd, "list") != 0 &&
	    strcmp(cmd, "revoke") != 0) {
		log_error("token: unknown command \"%s\" (expected create, list or revoke)", cmd);
		rc = EXIT_USAGE;
		goto out;
	}
	rc = parse_settings(argc - 1, argv + 1, &s, &cli, &extra);
	if (rc != 0) {
		rc = rc < 0 ? EXIT_OK : rc;
		goto out;
	}
	rc = EXIT_USAGE;
	if (!s.db) {
		log_error("token %s: no database: give --db PATH", cmd);
		goto out;
	}
	if (strcmp(cmd, "list") == 0) {
		if (ta.agent || ta.reader) {
			log_error("token list takes no --agent or --reader");
			goto out;
		}
	} else {
		if (!ta.agent == !ta.reader) {
			log_error("token %s: give either --agent NAME or --reader NAME", cmd);
			goto out;
		}
		name = ta.agent ? ta.agent : ta.reader;
		role = ta.agent ? STORE_ROLE_AGENT : STORE_ROLE_READER;
		if (!token_name_valid(name)) {
			log_error("token %s: bad name \"%s\" (1 to %d letters, digits, '-', '_', "
				  "'.', '@')", cmd, name, TOKEN_NAME_MAX);
			goto out;
		}
	}
	if (token_init() < 0) {
		log_error("libgcrypt failed to initialise (too old?)");
		rc = EXIT_RUNTIME;
		goto out;
	}
	rc = EXIT_RUNTIME;
	st = store_open(s.db, err, sizeof(err));
	if (!st) {
		log_error("%s", err);
		goto out;
	}
	const char *role_name = role == STORE_ROLE_AGENT ? "agent" : "reader";
	if (strcmp(cmd, "create") == 0) {
		char tok[TOKEN_TEXT_LEN + 1], hash[TOKEN_HASH_HEX_LEN + 1];
		if (token_generate(tok, sizeof(tok)) < 0) {
			log_error("cannot get random bytes: %s", strerror(errno));
			goto out;
		}
		if (token_sha256_hex(tok, strlen(tok), hash, sizeof(hash)) < 0) {
			log_error("cannot hash the token (libgcrypt)");
			goto out;
		}
		if (store_token_add(st, role, name, hash) < 0) {
			log_error("token create: %s", store_error(st));
			goto out;
		}
		/* the secret goes to stdout only, alone on the last line, so
		 * that scripts take it with tail -1 */
		printf("# %s token \"%s\"; it is shown only now, keep it secret:\n%s\n",
		       role_name, name, tok);
		memset(tok, 0, sizeof(tok));
	} else if (strcmp(cmd, "revoke") == 0) {
		int r = store_token_revoke(st, role, name);
		if (r < 0) {
			log_error("token revoke: %s", store_error(st));
			goto out;
		}
		if (r == 0) {
			log_error("token revoke: no live %s token named \"%s\"", role_name, name);
			goto out;
		}
		log_info("%s token \"%s\" revoked", role_name, name);
	} else {
		printf("%-24s %-7s %-21s %-21s %s\n", "NAME", "ROLE", "CREATED", "LAST USED",
		       "STATUS");
		if (store_token_list(st, print_token, NULL) < 0) {
			log_error("token list: %s", store_error(st));
			goto out;
		}
	}
	if (fflush(stdout) != 0) {
		log_error("cannot write to standard output: %s", strerror(errno));
		goto out;
	}
	rc = EXIT_OK;
out:
	store_close(st);
	cfg_free(options, &s);
	return rc;
}

int
main(int argc, char **argv)
{
	log_init(PROGNAME, LOG_LEVEL_INFO);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "serve") == 0)
		return run_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "token") == 0)
		return run_token(argc - 1, argv + 1);
	if (argv[1][0] == '-') {
		/* options alone (-n -c FILE, --version, --help): serve's */
		return run_serve(argc, argv);
	}
	log_error("unknown command \"%s\" (expected serve or token; see --help)", argv[1]);
	return EXIT_USAGE;
}
