/* Kiln conn: one request and its response, as Plug.Conn is in Phoenix.
 *
 * A conn is created by an adapter (the HTTP server, or the in-process test
 * adapter of kiln/test.h), run through the endpoint's plugs and router, and
 * finished by one of the send functions. All memory hanging off a conn comes
 * from conn->arena and is released when the adapter resets it after the
 * response; handlers never free anything they got from a conn.
 *
 * Handlers run on a coroutine: they may wait (kiln_call, kiln_blocking, ...). */
#ifndef KILN_CONN_H
#define KILN_CONN_H

#include <stdint.h>
#include <sys/types.h>
#include "kiln/core.h"
#include "kiln/http.h"

/* ---- Params: the tree the params plug builds ----------------------------- */

typedef enum { KILN_PARAM_STRING, KILN_PARAM_MAP, KILN_PARAM_LIST, KILN_PARAM_FILE } kiln_param_kind_t;

typedef struct kiln_upload {
    const char *filename;     /* as the client named it (untrusted) */
    const char *content_type;
    const char *path;         /* temp file, deleted when the request ends */
    uint64_t size;
} kiln_upload_t;

typedef struct kiln_param kiln_param_t;
struct kiln_param {
    kiln_param_kind_t kind;
    const char *key;       /* NUL-terminated; NULL for list items */
    kiln_param_t *next;    /* next sibling (insertion order) */
    union {
        kiln_str_t str;            /* KILN_PARAM_STRING (NUL-terminated too) */
        kiln_param_t *children;    /* KILN_PARAM_MAP / KILN_PARAM_LIST */
        kiln_upload_t upload;      /* KILN_PARAM_FILE */
    } u;
};

/* Looks up a key in a map param (NULL when absent or not a map). */
const kiln_param_t *kiln_param_get(const kiln_param_t *map, const char *key);
/* Follows a path of keys: kiln_param_path(p, "user", "email", NULL). */
const kiln_param_t *kiln_param_path(const kiln_param_t *map, ...);
/* The string value of key in map, or NULL. */
const char *kiln_param_str(const kiln_param_t *map, const char *key);

/* ---- Response cookies ---------------------------------------------------- */

typedef struct kiln_cookie_opts {
    const char *path;     /* default "/" */
    const char *domain;
    int64_t max_age;      /* seconds; <0 = session cookie (default -1); 0 deletes */
    unsigned secure : 1, http_only : 1; /* http_only defaults on via kiln_cookie_opts_default */
    const char *same_site; /* "Lax" (default), "Strict", "None" */
} kiln_cookie_opts_t;
kiln_cookie_opts_t kiln_cookie_opts_default(void);

/* ---- The conn ------------------------------------------------------------ */

typedef struct kiln_conn kiln_conn_t;

/* What an adapter must provide. Each function writes the response prepared in
 * the conn (status, resp_headers) to its peer. */
typedef struct kiln_conn_adapter {
    int abi; /* KILN_CONN_ADAPTER_ABI */
    /* Sends the head and body (iov-style chunks, may be empty). */
    int (*send_resp)(kiln_conn_t *c, const kiln_str_t *body, size_t n_body);
    /* Sends the head and len bytes of fd from off (the adapter closes nothing). */
    int (*send_file)(kiln_conn_t *c, int fd, off_t off, uint64_t len);
    /* Sends the head with Transfer-Encoding: chunked (HTTP/1.1) or close-delimited (1.0). */
    int (*send_chunked)(kiln_conn_t *c);
    /* Sends one chunk; len 0 ends the body. May wait for the socket to drain. */
    int (*chunk)(kiln_conn_t *c, const void *data, size_t len);
} kiln_conn_adapter_t;
#define KILN_CONN_ADAPTER_ABI 1

typedef struct kiln_assign {
    const char *key;
    void *value;
    struct kiln_assign *next;
} kiln_assign_t;

typedef enum { KILN_CONN_UNSENT, KILN_CONN_SENT, KILN_CONN_CHUNKED, KILN_CONN_FILE } kiln_conn_state_t;

/* A callback run by every send function just before the adapter writes the
 * head (Plug's register_before_send): it may still change status and headers.
 * Registered in the arena; callbacks run in reverse order of registration. */
typedef void (*kiln_before_send_cb)(kiln_conn_t *c, void *ud);
typedef struct kiln_before_send {
    kiln_before_send_cb fn;
    void *ud;
    struct kiln_before_send *next;
} kiln_before_send_t;

struct kiln_conn {
    kiln_arena_t *arena;          /* per request; released after the response */

    /* request */
    kiln_method_t method;         /* after method override, if any */
    kiln_str_t method_str;        /* as sent; never rewritten (so a HEAD request stays visible, see kiln_conn_is_head) */
    kiln_str_t path;              /* percent-decoded path ("/users/42") */
    kiln_str_t raw_path;          /* as sent */
    kiln_str_t query_string;
    int version_minor;
    const kiln_header_t *req_headers;
    size_t n_req_headers;
    kiln_str_t host;
    kiln_str_t body;              /* the whole body (bounded by the body limit); empty if none */
    kiln_str_t remote_ip;
    const char *scheme;           /* "http" or "https" */

    kiln_param_t *params;         /* merged query, body and path params (a map); never NULL after the params plug */
    kiln_param_t *query_params;
    kiln_param_t *body_params;
    kiln_param_t *path_params;    /* set by the router */
    const char *route_name;       /* set by the router: the matched route's name, or NULL */
    const char *route_path;       /* set by the router: the matched pattern ("/users/:id"), or NULL */
    const char *format;           /* "html" or "json": set by the router from the pipeline/accepts */
    const char *request_id;       /* set by the request-id plug */

    /* response */
    int status;
    kiln_header_t *resp_headers;  /* arena array */
    size_t n_resp_headers, cap_resp_headers;
    kiln_conn_state_t state;
    unsigned halted : 1;
    unsigned close_after : 1;     /* send Connection: close and close after the response */

    kiln_assign_t *assigns;
    kiln_before_send_t *before_send;

    /* adapter */
    const kiln_conn_adapter_t *adapter;
    void *adapter_data;
    int64_t start_ns;             /* when the request head was complete */
    void *endpoint;               /* the endpoint serving this conn (kiln_endpoint_t *) */
};

/* Prepares a zeroed conn for an adapter: arena, adapter, status 200, empty
 * path "/", scheme "http". The adapter then fills the request fields. */
void kiln_conn_init(kiln_conn_t *c, kiln_arena_t *arena, const kiln_conn_adapter_t *adapter, void *adapter_data);

/* True when the request was a HEAD (the router serves it with the GET route;
 * the adapter must send the head, with the GET body's length, and no body). */
int kiln_conn_is_head(const kiln_conn_t *c);

/* Request helpers */
const kiln_str_t *kiln_conn_req_header(const kiln_conn_t *c, const char *name);
/* A request cookie's value (arena-allocated on first call), or NULL. */
const char *kiln_conn_cookie(kiln_conn_t *c, const char *name);

/* Assigns: values are not copied and must outlive the request (arena or static). */
int kiln_conn_assign(kiln_conn_t *c, const char *key, void *value);
void *kiln_conn_get_assign(const kiln_conn_t *c, const char *key);

/* Response helpers. Header names and values are copied into the arena; a value
 * with CR, LF or NUL is refused with KILN_EINVAL (no response splitting). */
int kiln_conn_put_resp_header(kiln_conn_t *c, const char *name, const char *value);  /* replaces */
int kiln_conn_add_resp_header(kiln_conn_t *c, const char *name, const char *value);  /* appends */
int kiln_conn_delete_resp_header(kiln_conn_t *c, const char *name);
const char *kiln_conn_get_resp_header(const kiln_conn_t *c, const char *name);
int kiln_conn_put_resp_cookie(kiln_conn_t *c, const char *name, const char *value, const kiln_cookie_opts_t *opts);
/* Expires the cookie on the client (Max-Age=0) with the same path/domain. */
int kiln_conn_delete_resp_cookie(kiln_conn_t *c, const char *name, const kiln_cookie_opts_t *opts);
int kiln_conn_put_status(kiln_conn_t *c, int status); /* 100..999, else KILN_EINVAL */
/* Runs fn(c, ud) before the response head is written (see kiln_before_send_cb).
 * Returns 0, KILN_ENOMEM, or KILN_ESTATE if the response is already sent. */
int kiln_conn_register_before_send(kiln_conn_t *c, kiln_before_send_cb fn, void *ud);

/* Sending: each sets state and calls the adapter; a second send returns KILN_ESTATE. */
int kiln_conn_send_resp(kiln_conn_t *c, int status, const char *content_type, const void *body, size_t len);
int kiln_conn_text(kiln_conn_t *c, int status, const char *text);   /* text/plain; charset=utf-8 */
int kiln_conn_html(kiln_conn_t *c, int status, const char *html);   /* text/html; charset=utf-8 */
int kiln_conn_json_raw(kiln_conn_t *c, int status, const char *json); /* application/json */
int kiln_conn_redirect(kiln_conn_t *c, const char *to);             /* 302 with Location (c->status if already 3xx) */
int kiln_conn_send_file(kiln_conn_t *c, int status, const char *path, off_t off, uint64_t len); /* len 0 = to end */
/* As send_file, for a file the caller has opened (the static plug opens with
 * openat/O_NOFOLLOW). Takes ownership of fd: it is closed when the arena is
 * reset, even on failure. KILN_EINVAL if the range is outside the file. */
int kiln_conn_send_fd(kiln_conn_t *c, int status, int fd, off_t off, uint64_t len);
int kiln_conn_send_chunked(kiln_conn_t *c, int status);
int kiln_conn_chunk(kiln_conn_t *c, const void *data, size_t len);  /* len 0 ends */

/* Stops the pipeline: later plugs and the handler do not run. */
void kiln_conn_halt(kiln_conn_t *c);

/* Serializes the response head ("HTTP/1.1 200 OK\r\n" + headers + Date/Server +
 * framing header + "\r\n") into buf: shared by the server and test adapters.
 * body_len < 0 means chunked: transfer-encoding: chunked for HTTP/1.1, and for an
 * HTTP/1.0 request no framing header plus connection: close (the adapter must
 * then close after the body). Content-length and transfer-encoding set by a
 * handler are ignored: framing belongs to the adapter. For HEAD pass the real
 * body length; 1xx, 204 and 304 get no framing header at all.
 * Returns 0 or KILN_ETOOBIG. */
int kiln_conn_write_head(const kiln_conn_t *c, kiln_buf_t *buf, int64_t body_len);

#endif
