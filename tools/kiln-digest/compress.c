/* kiln-digest's compressors: gzip through zlib and brotli through libbrotlienc,
 * both one-shot over a whole file in memory (static assets are small; the
 * largest bundle is a few hundred kilobytes).
 *
 * Both are deterministic: the gzip header carries no file name and mtime 0, so
 * rebuilding unchanged assets writes the same bytes (and the digest tool can
 * leave the files, and their mtimes and ETags, alone). */
#include <brotli/encode.h>
#include <stdlib.h>
#include <zlib.h>

#include "kiln_digest.h"

void kiln_digest_blob_free(kiln_digest_blob_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

int kiln_digest_gzip(const unsigned char *in, size_t n, kiln_digest_blob_t *out)
{
    z_stream z = { 0 };
    /* 15 + 16: a gzip wrapper, not zlib's; memLevel 9 for the best ratio */
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return KILN_EINTERNAL;
    uLong cap = deflateBound(&z, (uLong)n);
    out->data = malloc(cap);
    if (!out->data) {
        deflateEnd(&z);
        return KILN_ENOMEM;
    }
    z.next_in = (Bytef *)in; /* zlib's API is not const-correct; it only reads */
    z.avail_in = (uInt)n;
    z.next_out = out->data;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    out->len = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        kiln_digest_blob_free(out);
        return KILN_EINTERNAL;
    }
    return 0;
}

int kiln_digest_brotli(const unsigned char *in, size_t n, kiln_digest_blob_t *out)
{
    size_t cap = BrotliEncoderMaxCompressedSize(n);
    if (cap == 0) return KILN_ETOOBIG;
    out->data = malloc(cap);
    if (!out->data) return KILN_ENOMEM;
    out->len = cap;
    if (!BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n, in, &out->len,
                               out->data)) {
        kiln_digest_blob_free(out);
        return KILN_EINTERNAL;
    }
    return 0;
}
