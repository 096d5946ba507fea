/* kiln-digest internals shared by its two files: main.c walks the static
 * directory, fingerprints and writes the copies and the manifest; compress.c
 * makes the gzip and brotli versions.
 *
 * Ownership: a kiln_digest_blob_t owns its bytes (free them with
 * kiln_digest_blob_free); the compressors hand a fresh blob to the caller. */
#ifndef KILN_DIGEST_H
#define KILN_DIGEST_H

#include <stddef.h>

#include "kiln/core.h"

typedef struct kiln_digest_blob {
    unsigned char *data;
    size_t len;
} kiln_digest_blob_t;

void kiln_digest_blob_free(kiln_digest_blob_t *b);

/* gzip (zlib, level 9, no name or mtime in the header: the same input gives the
 * same bytes). Returns 0, or KILN_ENOMEM / KILN_EINTERNAL. */
int kiln_digest_gzip(const unsigned char *in, size_t n, kiln_digest_blob_t *out);
/* brotli (quality 11, default window), as browsers accept with "br".
 * Returns 0, KILN_ETOOBIG (input beyond what the encoder takes) or KILN_EINTERNAL. */
int kiln_digest_brotli(const unsigned char *in, size_t n, kiln_digest_blob_t *out);

#endif
