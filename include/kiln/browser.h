/* Kiln browser pipeline: cookie sessions, CSRF protection, flash, layouts and
 * form helpers (Phoenix's :browser pipeline). See docs/guides/browser.md.
 *
 *   static kiln_session_opts_t session_opts = { .key = "_hello_key" };  // .secret_key_base set in configure
 *   static const kiln_plug_t browser_plugs[] = {
 *       KILN_PLUG(kiln_plug_accepts, &(kiln_accepts_opts_t){ .formats = "html" }),
 *       KILN_PLUG(kiln_plug_session, &session_opts),
 *       KILN_PLUG(kiln_plug_flash, NULL),
 *       KILN_PLUG(kiln_plug_csrf, NULL),
 *       KILN_PLUG(kiln_plug_put_root_layout, &(kiln_layout_opts_t){ .layout = my_root_layout }),
 *       KILN_PLUG(kiln_plug_secure_headers, NULL),
 *       KILN_PLUG_END
 *   };
 *
 * Everything a request reads or writes here lives in the conn's arena; the
 * session is written back (when it changed) by a before-send callback.
 * Errors follow kiln/core.h: 0 or a negative KILN_E*. */
#ifndef KILN_BROWSER_H
#define KILN_BROWSER_H

#include "kiln/endpoint.h"
#include "kiln/template.h"

/* ---- sessions ------------------------------------------------------------- */

/* The session is a small string map kept in one cookie, encrypted and
 * authenticated with XChaCha20-Poly1305 (libsodium) under a key derived from
 * SECRET_KEY_BASE (ADR 0010). A cookie that fails to decrypt (tampered,
 * truncated, another key) or is older than max_age gives an empty session,
 * never an error. A session too large for max_size is not written, with an
 * error log line naming its size. */
typedef struct kiln_session_opts {
    const char *key;              /* cookie name; default "_kiln_session" */
    const char *secret_key_base;  /* required (kiln_config_t.secret_key_base, >= 64 chars) */
    int64_t max_age;              /* seconds; default 14 days; also the cookie's Max-Age */
    size_t max_size;              /* bytes of cookie value; default 4096 */
} kiln_session_opts_t;
int kiln_plug_session(kiln_conn_t *c, const void *opts);

/* Session access (after kiln_plug_session; else get gives NULL and put KILN_ESTATE).
 * Values are copied into the arena. */
const char *kiln_session_get(kiln_conn_t *c, const char *key);
int kiln_session_put(kiln_conn_t *c, const char *key, const char *value);
int kiln_session_delete(kiln_conn_t *c, const char *key);
void kiln_session_clear(kiln_conn_t *c); /* e.g. at log-out: also drops the CSRF token */

/* Seals and opens session payloads: exposed for tests and tools. seal writes
 * the cookie value (base64url, arena) for plaintext with its issue time;
 * open returns the plaintext (arena) or NULL for anything invalid or older
 * than max_age. */
const char *kiln_session_seal(kiln_arena_t *a, const kiln_session_opts_t *o, const char *plain, size_t len,
                              int64_t issued_at);
const char *kiln_session_open(kiln_arena_t *a, const kiln_session_opts_t *o, const char *cookie, int64_t now,
                              size_t *len);

/* ---- CSRF ----------------------------------------------------------------- */

/* Protects POST, PUT, PATCH and DELETE (as sent or after method override),
 * whatever the content type or other headers: the request must carry a
 * token from kiln_csrf_token() as the _csrf_token body param or the
 * x-csrf-token header, and the session must hold the matching secret.
 * Otherwise 403 with a message saying which of these failed, and halt.
 * Put it after kiln_plug_session (and kiln_plug_params). opts: NULL. */
int kiln_plug_csrf(kiln_conn_t *c, const void *opts);
/* A token for a form or a meta tag: the session's secret masked with fresh
 * random bytes (so it differs on every page, against BREACH). Creates the
 * secret on first use. Arena string; NULL without a session or on OOM. */
const char *kiln_csrf_token(kiln_conn_t *c);

/* ---- flash ---------------------------------------------------------------- */

/* Loads the flash that the previous response left in the session. A flash put
 * during a request that answers with a redirect is kept for the next request;
 * otherwise it is shown by this response and dropped, so a message is read
 * once. Put it after kiln_plug_session. opts: NULL. */
int kiln_plug_flash(kiln_conn_t *c, const void *opts);
int kiln_flash_put(kiln_conn_t *c, const char *kind, const char *message); /* kind: "info", "error" */
const char *kiln_flash_get(kiln_conn_t *c, const char *kind);              /* NULL if none */

/* ---- layouts and rendering ------------------------------------------------ */

/* A root layout writes the whole page around `inner` (a template's slot). */
typedef void (*kiln_layout_fn)(kiln_tpl_out_t *o, kiln_conn_t *c, const char *title, kiln_tpl_slot_t inner);
typedef struct kiln_layout_opts {
    kiln_layout_fn layout; /* NULL = kiln_default_root_layout */
} kiln_layout_opts_t;
int kiln_plug_put_root_layout(kiln_conn_t *c, const void *opts);
/* The default: doctype, head with csrf-token meta and title, the flash as
 * <p id="flash-info" role="alert">...</p> and flash-error, then inner. */
void kiln_default_root_layout(kiln_tpl_out_t *o, kiln_conn_t *c, const char *title, kiln_tpl_slot_t inner);

/* Renders inner inside the conn's root layout (if any) and sends it as
 * text/html. The HTML is written straight into one buffer bounded by
 * KILN_RENDER_MAX; a page past it answers 500. */
#define KILN_RENDER_MAX (8u << 20)
int kiln_render(kiln_conn_t *c, int status, const char *title, kiln_tpl_slot_t inner);

/* ---- form helpers --------------------------------------------------------- */

/* A form over a map of field values and a map of field errors (the data
 * layer's changeset plugs in here): fields are named "NAME[field]". */
typedef struct kiln_form {
    kiln_conn_t *conn;
    const char *name;              /* "entry" */
    const kiln_param_t *values;    /* map field -> string, or NULL */
    const kiln_param_t *errors;    /* map field -> message, or NULL */
} kiln_form_t;

/* Each returns HTML in the conn's arena for {...} in a template. */
/* <form action method="post"> + the CSRF hidden field + _method for PUT/PATCH/DELETE. */
kiln_tpl_raw_t kiln_form_open(const kiln_form_t *f, const char *action, const char *method);
kiln_tpl_raw_t kiln_form_close(const kiln_form_t *f);
/* <label>, <input type=...> (or <textarea> for type "textarea") with the
 * current value, and <p class="error" id="NAME_field-error"> when the field has an error. */
kiln_tpl_raw_t kiln_form_input(const kiln_form_t *f, const char *field, const char *label, const char *type);
/* The field's error message or NULL. */
const char *kiln_form_error(const kiln_form_t *f, const char *field);

#endif
