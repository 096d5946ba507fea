/* MIME types by file extension: the short list a web app serves from its
 * static directory. Text types carry charset=utf-8 as Plug.Static does. */
#include "kiln/plugs.h"

#include <string.h>
#include <strings.h>

static const struct { const char *ext, *type; } mime_types[] = {
    { "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" }, { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
    { "map", "application/json" }, { "txt", "text/plain; charset=utf-8" }, { "xml", "application/xml" },
    { "csv", "text/csv; charset=utf-8" }, { "svg", "image/svg+xml" }, { "png", "image/png" },
    { "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "webp", "image/webp" },
    { "avif", "image/avif" }, { "ico", "image/vnd.microsoft.icon" }, { "woff", "font/woff" },
    { "woff2", "font/woff2" }, { "ttf", "font/ttf" }, { "otf", "font/otf" }, { "pdf", "application/pdf" },
    { "wasm", "application/wasm" }, { "mp4", "video/mp4" }, { "webm", "video/webm" }, { "mp3", "audio/mpeg" },
    { "ogg", "audio/ogg" }, { "wav", "audio/wav" }, { "zip", "application/zip" }, { "gz", "application/gzip" },
    { "webmanifest", "application/manifest+json" }, { "md", "text/markdown; charset=utf-8" },
};

const char *kiln_mime_type(const char *filename)
{
    const char *slash = strrchr(filename, '/');
    const char *dot = strrchr(slash ? slash : filename, '.');
    if (dot)
        for (size_t i = 0; i < KILN_ARRAY_LEN(mime_types); i++)
            if (!strcasecmp(dot + 1, mime_types[i].ext)) return mime_types[i].type;
    return "application/octet-stream";
}
