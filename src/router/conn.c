/* The conn: request accessors, response headers and cookies, assigns, and the
 * send functions that hand the prepared response to the adapter.
 *
 * Everything is copied into c->arena, so callers may pass stack strings.
 * Response header names are stored lower-case (as Plug requires) and every
 * name and value is checked on the way in, never on the way out: a value with
 * CR, LF or NUL cannot reach kiln_conn_write_head, which is what makes response
 * splitting impossible whatever a handler does. Each send function moves the
 * conn out of KILN_CONN_UNSENT exactly once, runs the before-send callbacks and
 * calls the adapter once. */
#include "kiln/conn.h"
#include "kiln/params.h"
#include "router_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* (kiln_param_get/_path/_str, declared in conn.h, live with the params parsers in src/http/params.c.) */

/* ---- Setup and request side ---------------------------------------------- */

void kiln_conn_init(kiln_conn_t *c, kiln_arena_t *arena, const kiln_conn_adapter_t *adapter, void *adapter_data)
{
    memset(c, 0, sizeof *c);
    c->arena = arena;
    c->adapter = adapter;
    c->adapter_data = adapter_data;
    c->status = 200;
    c->path = KILN_STR("/");
    c->raw_path = KILN_STR("/");
    c->method_str = KILN_STR("GET");
    c->method = KILN_METHOD_GET;
    c->version_minor = 1;
    c->scheme = "http";
}

int kiln_conn_is_head(const kiln_conn_t *c)
{
    return kiln_str_eq_c(c->method_str, "HEAD");
}

const kiln_str_t *kiln_conn_req_header(const kiln_conn_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_req_headers; i++)
        if (kiln_str_ieq_c(c->req_headers[i].name, name)) return &c->req_headers[i].value;
    return NULL;
}

const char *kiln_conn_cookie(kiln_conn_t *c, const char *name)
{
    /* A client may split cookies over several Cookie fields (HTTP/2 does). */
    for (size_t i = 0; i < c->n_req_headers; i++) {
        if (!kiln_str_ieq_c(c->req_headers[i].name, "cookie")) continue;
        const char *v = kiln_cookie_lookup(c->arena, c->req_headers[i].value, name);
        if (v) return v;
    }
    return NULL;
}

/* ---- Assigns ------------------------------------------------------------- */

int kiln_conn_assign(kiln_conn_t *c, const char *key, void *value)
{
    /* Newest first: a later assign of the same key shadows the earlier one. */
    kiln_assign_t *a = kiln_arena_alloc(c->arena, sizeof *a);
    if (!a) return KILN_ENOMEM;
    a->key = key;
    a->value = value;
    a->next = c->assigns;
    c->assigns = a;
    return 0;
}

void *kiln_conn_get_assign(const kiln_conn_t *c, const char *key)
{
    for (const kiln_assign_t *a = c->assigns; a; a = a->next)
        if (strcmp(a->key, key) == 0) return a->value;
    return NULL;
}

/* ---- Response headers ---------------------------------------------------- */

static int header_ok(const char *name, size_t nlen, const char *value, size_t vlen)
{
    return kiln_http_token_ok((kiln_str_t){ name, nlen }) && kiln_http_header_value_ok((kiln_str_t){ value, vlen });
}

/* Appends a header already checked by header_ok: the name lower-cased, both copied into the arena. */
static int add_checked(kiln_conn_t *c, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (c->n_resp_headers == c->cap_resp_headers) {
        size_t cap = c->cap_resp_headers ? c->cap_resp_headers * 2 : 8;
        kiln_header_t *h = kiln_arena_alloc(c->arena, cap * sizeof *h);
        if (!h) return KILN_ENOMEM;
        if (c->n_resp_headers) memcpy(h, c->resp_headers, c->n_resp_headers * sizeof *h);
        c->resp_headers = h;
        c->cap_resp_headers = cap;
    }
    /* one allocation for "name\0value\0" */
    char *d = kiln_arena_alloc(c->arena, nlen + vlen + 2);
    if (!d) return KILN_ENOMEM;
    for (size_t i = 0; i < nlen; i++) d[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    d[nlen] = '\0';
    char *v = d + nlen + 1;
    if (vlen) memcpy(v, value, vlen);
    v[vlen] = '\0';
    c->resp_headers[c->n_resp_headers++] = (kiln_header_t){ { d, nlen }, { v, vlen } };
    return 0;
}

int kiln_conn_add_resp_header(kiln_conn_t *c, const char *name, const char *value)
{
    if (!name || !value) return KILN_EINVAL;
    size_t nlen = strlen(name), vlen = strlen(value);
    if (!header_ok(name, nlen, value, vlen)) return KILN_EINVAL;
    return add_checked(c, name, nlen, value, vlen);
}

static void delete_named(kiln_conn_t *c, const char *name, size_t nlen)
{
    size_t out = 0;
    for (size_t i = 0; i < c->n_resp_headers; i++) {
        const kiln_str_t n = c->resp_headers[i].name;
        if (!(n.len == nlen && (nlen == 0 || strncasecmp(n.ptr, name, nlen) == 0)))
            c->resp_headers[out++] = c->resp_headers[i];
    }
    c->n_resp_headers = out;
}

int kiln_conn_delete_resp_header(kiln_conn_t *c, const char *name)
{
    delete_named(c, name, strlen(name));
    return 0;
}

int kiln_conn_put_resp_header(kiln_conn_t *c, const char *name, const char *value)
{
    if (!name || !value) return KILN_EINVAL;
    size_t nlen = strlen(name), vlen = strlen(value);
    if (!header_ok(name, nlen, value, vlen)) return KILN_EINVAL;
    if (c->n_resp_headers) delete_named(c, name, nlen);
    return add_checked(c, name, nlen, value, vlen);
}

const char *kiln_conn_get_resp_header(const kiln_conn_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_resp_headers; i++)
        if (kiln_str_ieq_c(c->resp_headers[i].name, name)) return c->resp_headers[i].value.ptr;
    return NULL;
}

int kiln_conn_put_status(kiln_conn_t *c, int status)
{
    if (status < 100 || status > 999) return KILN_EINVAL;
    c->status = status;
    return 0;
}

/* ---- Response cookies ---------------------------------------------------- */

kiln_cookie_opts_t kiln_cookie_opts_default(void)
{
    return (kiln_cookie_opts_t){ .path = "/", .max_age = -1, .http_only = 1, .same_site = "Lax" };
}

/* RFC 6265 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon or backslash. */
static int cookie_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == ',' || *p == ';' || *p == '\\') return 0;
    return 1;
}

/* Path and Domain attribute values: any CHAR except CTLs and ';'. */
static int cookie_attr_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ';') return 0;
    return 1;
}

static int same_site_ok(const char *s)
{
    return !strcmp(s, "Lax") || !strcmp(s, "Strict") || !strcmp(s, "None");
}

static int format_cookie(kiln_buf_t *b, const char *name, const char *value, const kiln_cookie_opts_t *o)
{
    int rc = kiln_buf_printf(b, "%s=%s; path=%s", name, value, o->path ? o->path : "/");
    if (rc == 0 && o->domain) rc = kiln_buf_printf(b, "; domain=%s", o->domain);
    if (rc == 0 && o->max_age >= 0) {
        char date[30];
        kiln_http_date_fmt(o->max_age == 0 ? 0 : (int64_t)time(NULL) + o->max_age, date);
        rc = kiln_buf_printf(b, "; expires=%s; max-age=%lld", date, (long long)o->max_age);
    }
    if (rc == 0 && o->http_only) rc = kiln_buf_puts(b, "; HttpOnly");
    if (rc == 0 && o->secure) rc = kiln_buf_puts(b, "; Secure");
    if (rc == 0 && o->same_site) rc = kiln_buf_printf(b, "; SameSite=%s", o->same_site);
    return rc;
}

/* Drops an earlier set-cookie for the same name, as Plug's resp_cookies map does. */
static void delete_set_cookie(kiln_conn_t *c, const char *name)
{
    size_t n = strlen(name), out = 0;
    for (size_t i = 0; i < c->n_resp_headers; i++) {
        kiln_header_t *h = &c->resp_headers[i];
        int same = kiln_str_eq_c(h->name, "set-cookie") && h->value.len > n && !memcmp(h->value.ptr, name, n) &&
                   h->value.ptr[n] == '=';
        if (!same) c->resp_headers[out++] = *h;
    }
    c->n_resp_headers = out;
}

int kiln_conn_put_resp_cookie(kiln_conn_t *c, const char *name, const char *value, const kiln_cookie_opts_t *opts)
{
    kiln_cookie_opts_t def = kiln_cookie_opts_default();
    const kiln_cookie_opts_t *o = opts ? opts : &def;
    if (!name || !value || !kiln_http_token_ok(kiln_str_c(name)) || !cookie_value_ok(value)) return KILN_EINVAL;
    if ((o->path && !cookie_attr_ok(o->path)) || (o->domain && !cookie_attr_ok(o->domain))) return KILN_EINVAL;
    if (o->same_site && !same_site_ok(o->same_site)) return KILN_EINVAL;
    kiln_buf_t b;
    kiln_buf_init(&b, 8192);
    int rc = format_cookie(&b, name, value, o);
    if (rc == 0) {
        delete_set_cookie(c, name);
        rc = kiln_conn_add_resp_header(c, "set-cookie", b.data);
    }
    kiln_buf_free(&b);
    return rc;
}

int kiln_conn_delete_resp_cookie(kiln_conn_t *c, const char *name, const kiln_cookie_opts_t *opts)
{
    kiln_cookie_opts_t o = opts ? *opts : kiln_cookie_opts_default();
    o.max_age = 0;
    return kiln_conn_put_resp_cookie(c, name, "", &o);
}

/* ---- Sending --------------------------------------------------------------- */

int kiln_conn_register_before_send(kiln_conn_t *c, kiln_before_send_cb fn, void *ud)
{
    if (c->state != KILN_CONN_UNSENT) return KILN_ESTATE;
    kiln_before_send_t *b = kiln_arena_alloc(c->arena, sizeof *b);
    if (!b) return KILN_ENOMEM;
    *b = (kiln_before_send_t){ fn, ud, c->before_send };
    c->before_send = b;
    return 0;
}

/* Common prologue of every send: state check, status, callbacks. */
static int begin_send(kiln_conn_t *c, int status, kiln_conn_state_t next)
{
    if (c->state != KILN_CONN_UNSENT) return KILN_ESTATE;
    if (kiln_conn_put_status(c, status) < 0) return KILN_EINVAL;
    if (!c->adapter) return KILN_ESTATE;
    for (kiln_before_send_t *b = c->before_send; b; b = b->next) b->fn(c, b->ud);
    c->before_send = NULL;
    c->state = next;
    return 0;
}

int kiln_conn_send_resp(kiln_conn_t *c, int status, const char *content_type, const void *body, size_t len)
{
    if (content_type) { /* kiln_conn_put_resp_header, minus checking our own name */
        size_t vlen = strlen(content_type);
        if (!kiln_http_header_value_ok((kiln_str_t){ content_type, vlen })) return KILN_EINVAL;
        if (c->n_resp_headers) delete_named(c, "content-type", 12);
        int rc = add_checked(c, "content-type", 12, content_type, vlen);
        if (rc < 0) return rc;
    }
    int rc = begin_send(c, status, KILN_CONN_SENT);
    if (rc < 0) return rc;
    kiln_str_t chunk = { body ? body : "", body ? len : 0 };
    return c->adapter->send_resp(c, &chunk, chunk.len ? 1 : 0);
}

int kiln_conn_text(kiln_conn_t *c, int status, const char *text)
{
    return kiln_conn_send_resp(c, status, "text/plain; charset=utf-8", text, text ? strlen(text) : 0);
}

int kiln_conn_html(kiln_conn_t *c, int status, const char *html)
{
    return kiln_conn_send_resp(c, status, "text/html; charset=utf-8", html, html ? strlen(html) : 0);
}

int kiln_conn_json_raw(kiln_conn_t *c, int status, const char *json)
{
    return kiln_conn_send_resp(c, status, "application/json", json, json ? strlen(json) : 0);
}

int kiln__html_escape(kiln_buf_t *b, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '&': rc = kiln_buf_puts(b, "&amp;"); break;
        case '<': rc = kiln_buf_puts(b, "&lt;"); break;
        case '>': rc = kiln_buf_puts(b, "&gt;"); break;
        case '"': rc = kiln_buf_puts(b, "&quot;"); break;
        case '\'': rc = kiln_buf_puts(b, "&#39;"); break;
        default: rc = kiln_buf_append(b, s, 1);
        }
    }
    return rc;
}

int kiln_conn_redirect(kiln_conn_t *c, const char *to)
{
    if (!to || !*to) return KILN_EINVAL;
    int rc = kiln_conn_put_resp_header(c, "location", to);
    if (rc < 0) return rc;
    kiln_buf_t b;
    kiln_buf_init(&b, 16384);
    rc = kiln_buf_puts(&b, "<html><body>You are being <a href=\"");
    if (rc == 0) rc = kiln__html_escape(&b, to);
    if (rc == 0) rc = kiln_buf_puts(&b, "\">redirected</a>.</body></html>");
    char *body = rc == 0 ? kiln_arena_strndup(c->arena, b.data, b.len) : NULL;
    size_t len = b.len;
    kiln_buf_free(&b);
    if (rc < 0) return rc;
    if (!body) return KILN_ENOMEM;
    int status = c->status >= 300 && c->status < 400 ? c->status : 302;
    return kiln_conn_send_resp(c, status, "text/html; charset=utf-8", body, len);
}

static void close_fd(void *ud)
{
    close((int)(intptr_t)ud);
}

int kiln_conn_send_fd(kiln_conn_t *c, int status, int fd, off_t off, uint64_t len)
{
    if (kiln_arena_on_reset(c->arena, close_fd, (void *)(intptr_t)fd) < 0) {
        close(fd);
        return KILN_ENOMEM;
    }
    if (c->state != KILN_CONN_UNSENT) return KILN_ESTATE;
    struct stat st;
    if (fstat(fd, &st) < 0) return KILN_EIO;
    if (!S_ISREG(st.st_mode)) return KILN_ENOENT;
    uint64_t size = (uint64_t)st.st_size;
    if (off < 0 || (uint64_t)off > size) return KILN_EINVAL;
    if (len == 0) len = size - (uint64_t)off;
    if (len > size - (uint64_t)off) return KILN_EINVAL;
    int rc = begin_send(c, status, KILN_CONN_FILE);
    if (rc < 0) return rc;
    return c->adapter->send_file(c, fd, off, len);
}

int kiln_conn_send_file(kiln_conn_t *c, int status, const char *path, off_t off, uint64_t len)
{
    if (c->state != KILN_CONN_UNSENT) return KILN_ESTATE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? KILN_ENOENT : KILN_EIO;
    return kiln_conn_send_fd(c, status, fd, off, len);
}

int kiln_conn_send_chunked(kiln_conn_t *c, int status)
{
    int rc = begin_send(c, status, KILN_CONN_CHUNKED);
    if (rc < 0) return rc;
    return c->adapter->send_chunked(c);
}

int kiln_conn_chunk(kiln_conn_t *c, const void *data, size_t len)
{
    if (c->state != KILN_CONN_CHUNKED) return KILN_ESTATE;
    return c->adapter->chunk(c, data, len);
}

void kiln_conn_halt(kiln_conn_t *c)
{
    c->halted = 1;
}

/* ---- The response head ----------------------------------------------------- */

/* The head is written with direct copies into room reserved once: no printf
 * (two vsnprintf passes per call were half of a plaintext request's
 * instructions, ADR 0006). */

/* Case-insensitive equality of a header name with a lower-case literal of the same length. */
static int name_is(kiln_str_t name, const char *lower, size_t n)
{
    if (name.len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name.ptr[i];
        if ((ch >= 'A' && ch <= 'Z' ? ch + 32 : ch) != (unsigned char)lower[i]) return 0;
    }
    return 1;
}
#define NAME_IS(name, lit) name_is((name), lit, sizeof lit - 1)

/* Makes room for `need` more bytes (plus the NUL) through the public append,
 * which keeps the buffer's bound; the bytes appended here are dropped again. */
static int buf_room(kiln_buf_t *b, size_t need)
{
    if (b->data && b->cap - b->len > need) return 0;
    static const char zeros[256];
    size_t len = b->len, left = need;
    while (left) {
        size_t k = left < sizeof zeros ? left : sizeof zeros;
        int rc = kiln_buf_append(b, zeros, k);
        if (rc < 0) {
            b->len = len;
            if (b->data) b->data[len] = '\0';
            return rc;
        }
        left -= k;
    }
    b->len = len;
    b->data[len] = '\0';
    return 0;
}

#define PUT(p, lit) (memcpy((p), lit, sizeof lit - 1), (p) += sizeof lit - 1)

/* Writes v in decimal at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

int kiln_conn_write_head(const kiln_conn_t *c, kiln_buf_t *buf, int64_t body_len)
{
    int s = c->status;
    const char *text = kiln_http_status_text(s);
    size_t text_len = strlen(text);
    /* One pass over the handler's headers: their size, and whether it set
     * server or date itself. Framing headers are the adapter's: a handler's
     * copy would break framing or repeat ours. */
    size_t need = sizeof "HTTP/1.1 -2147483648 \r\n" - 1 + text_len;
    int has_server = 0, has_date = 0;
    for (size_t i = 0; i < c->n_resp_headers; i++) {
        const kiln_header_t *h = &c->resp_headers[i];
        need += h->name.len + h->value.len + 4;
        if (!has_server && NAME_IS(h->name, "server")) has_server = 1;
        else if (!has_date && NAME_IS(h->name, "date")) has_date = 1;
    }
    need += sizeof "server: kiln\r\n" - 1 + sizeof "date: \r\n" - 1 + 29 + sizeof "transfer-encoding: chunked\r\n" - 1 +
            sizeof "content-length: \r\n" - 1 + 20 + sizeof "connection: close\r\n" - 1 + 2;
    if (buf_room(buf, need) < 0) return KILN_ETOOBIG;

    char *p = buf->data + buf->len;
    PUT(p, "HTTP/1.1 ");
    if (s >= 100 && s <= 999) {
        p[0] = (char)('0' + s / 100);
        p[1] = (char)('0' + s / 10 % 10);
        p[2] = (char)('0' + s % 10);
        p += 3;
    } else { /* set directly, bypassing kiln_conn_put_status: written as it is */
        if (s < 0) *p++ = '-';
        p = put_u64(p, s < 0 ? (uint64_t)0 - (uint64_t)(int64_t)s : (uint64_t)s);
    }
    *p++ = ' ';
    memcpy(p, text, text_len);
    p += text_len;
    PUT(p, "\r\n");
    for (size_t i = 0; i < c->n_resp_headers; i++) {
        const kiln_header_t *h = &c->resp_headers[i];
        kiln_str_t n = h->name;
        if ((n.len == 14 && NAME_IS(n, "content-length")) || (n.len == 17 && NAME_IS(n, "transfer-encoding")) ||
            (n.len == 10 && NAME_IS(n, "connection")))
            continue;
        if (n.len) memcpy(p, n.ptr, n.len);
        p += n.len;
        PUT(p, ": ");
        if (h->value.len) memcpy(p, h->value.ptr, h->value.len);
        p += h->value.len;
        PUT(p, "\r\n");
    }
    if (!has_server) PUT(p, "server: kiln\r\n");
    if (!has_date) {
        PUT(p, "date: ");
        kiln_http_date(p);
        p += 29;
        PUT(p, "\r\n");
    }
    if (!((s >= 100 && s < 200) || s == 204 || s == 304)) {
        if (body_len >= 0) {
            PUT(p, "content-length: ");
            p = put_u64(p, (uint64_t)body_len);
            PUT(p, "\r\n");
        } else if (c->version_minor >= 1) {
            PUT(p, "transfer-encoding: chunked\r\n");
        } /* HTTP/1.0: the body ends when the connection closes */
    }
    if (c->close_after || (body_len < 0 && c->version_minor < 1)) PUT(p, "connection: close\r\n");
    PUT(p, "\r\n");
    buf->len = (size_t)(p - buf->data);
    buf->data[buf->len] = '\0';
    return 0;
}
