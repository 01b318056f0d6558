/*
 * The dashboard (docs/collector.md): the report's pages (reports/html.h)
 * for people with a browser, behind a log-in with a reader token and a
 * session cookie. api.c routes every path under /dashboard here; each page
 * builds its report on a pooled store handle with the collector's current
 * signatures and catalog, so it shows what the API and shadowmap-report
 * would for the same days.
 */
#ifndef SHADOWMAP_DASHBOARD_H
#define SHADOWMAP_DASHBOARD_H

#include <stddef.h>

#include "http.h"

#define DASHBOARD_BASE "/dashboard"
#define DASHBOARD_SESSIONS_MAX 256
#define DASHBOARD_SESSION_SECONDS (8 * 3600)

struct api;
struct dashboard;

/* The dashboard of api (which it only uses through api_with_store). NULL
 * when out of memory. */
struct dashboard *dashboard_new(struct api *a);
/* Forgets every session. */
void dashboard_free(struct dashboard *d);

/* 1 when path is the dashboard's: /dashboard and everything below. */
int dashboard_owns(const char *path);

/* The http.h callbacks for the dashboard's requests: begin answers all but
 * the log-in and log-out forms, whose bodies handle reads. */
int dashboard_begin(struct dashboard *d, struct http_request *req, struct http_response *resp);
void dashboard_handle(struct dashboard *d, struct http_request *req, struct http_response *resp);

#endif
