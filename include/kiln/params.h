/* Kiln params parsers: query strings, application/x-www-form-urlencoded (with
 * nested keys), multipart/form-data (incremental, file parts streamed to temp
 * files) and request cookies. They build the kiln_param_t tree of kiln/conn.h in
 * a request arena: every node and string belongs to that arena, and temp files
 * are removed by a cleanup registered on it.
 *
 * All parsers are bounded: key depth, number of pairs, and part sizes have
 * limits, and invalid UTF-8 in keys or values is rejected (KILN_EINVAL), so that
 * a handler never sees it (the params plug answers 400). */
#ifndef KILN_PARAMS_H
#define KILN_PARAMS_H

#include "kiln/conn.h"

typedef struct kiln_params_limits {
    size_t max_pairs;   /* 1000 */
    size_t max_depth;   /* 32 levels of nested keys */
    size_t max_key;     /* 1024 bytes */
    uint64_t max_file;  /* 64 MiB per uploaded file */
    size_t max_field;   /* 1 MiB per non-file multipart field */
    const char *tmp_dir; /* NULL = $TMPDIR or /tmp */
} kiln_params_limits_t;
void kiln_params_limits_default(kiln_params_limits_t *l);

/* A new empty map param in arena a (NULL on OOM). */
kiln_param_t *kiln_params_new_map(kiln_arena_t *a);

/* Adds one decoded pair to map using Plug's nested-key rules: "a" sets a key,
 * "a[b][c]" nests maps, "a[]" appends to a list. Returns 0, KILN_EINVAL (bad key
 * shape or conflicting types) or KILN_ETOOBIG (depth). */
int kiln_params_put(kiln_arena_t *a, kiln_param_t *map, const char *key, size_t key_len,
                    const char *value, size_t value_len, const kiln_params_limits_t *l);

/* Parses "a=1&b[c]=2" (percent- and '+'-decoding) into map. Returns 0,
 * KILN_EINVAL (bad escape, invalid UTF-8, bad key) or KILN_ETOOBIG. */
int kiln_params_parse_urlencoded(kiln_arena_t *a, kiln_str_t input, kiln_param_t *map,
                                 const kiln_params_limits_t *l);

/* Incremental multipart/form-data parser. Create with the boundary from the
 * Content-Type header, feed body bytes as they arrive (split anywhere), then
 * finish. Fields and files are added to map as each part completes; file parts
 * are written to temp files (KILN_PARAM_FILE) that the arena removes on reset,
 * also when parsing failed. Each part counts toward max_pairs; a file part with
 * an empty filename (an empty file input) is dropped. Errors are sticky. */
typedef struct kiln_multipart kiln_multipart_t;
/* Returns NULL on OOM or when content_type has no valid boundary (then *err = KILN_EINVAL). */
kiln_multipart_t *kiln_multipart_new(kiln_arena_t *a, kiln_str_t content_type, kiln_param_t *map,
                                     const kiln_params_limits_t *l, int *err);
/* Returns 0 (need more), or KILN_EINVAL / KILN_ETOOBIG / KILN_EIO on error. */
int kiln_multipart_feed(kiln_multipart_t *m, const char *data, size_t len);
/* Returns 0 when the closing boundary has been seen, KILN_EINVAL if the body was truncated. */
int kiln_multipart_finish(kiln_multipart_t *m);

/* Parses a Cookie header value "a=1; b=2" and looks up name; returns the value
 * (arena copy) or NULL. */
const char *kiln_cookie_lookup(kiln_arena_t *a, kiln_str_t header, const char *name);

/* True when s is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int kiln_utf8_valid(const char *s, size_t len);

#endif
