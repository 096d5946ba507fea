/* Helpers shared by the files of the router subsystem (not public API). */
#ifndef KILN_ROUTER_INT_H
#define KILN_ROUTER_INT_H

#include "kiln/core.h"

/* Appends s with & < > " ' escaped: for the built-in pages (redirect body,
 * error views) only; templates have their own escaping. Returns 0 or KILN_ETOOBIG. */
int kiln__html_escape(kiln_buf_t *b, const char *s);

/* Splits a raw request path (up to any '?') into its non-empty segments, which
 * point into path. Returns the count, or -1 when there are more than max. */
int kiln__path_split(kiln_str_t path, kiln_str_t *segs, int max);

#endif
