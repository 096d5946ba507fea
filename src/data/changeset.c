/* Changesets (kiln/changeset.h): cast, validations, constraint mapping.
 *
 * A changeset copies the original record into `changes` and applies every
 * successful cast or put there, setting the field's bit in `changed` only when
 * the value really differs, so that an update sends the changed columns only.
 * Errors and constraint declarations are arrays grown in the arena (doubling;
 * the old block is simply left to the arena). */
#include "kiln/changeset.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/schema_int.h"

static const kiln_param_t *param_get(const kiln_param_t *map, const char *key)
{
    if (!map || map->kind != KILN_PARAM_MAP) return NULL;
    for (const kiln_param_t *p = map->u.children; p; p = p->next)
        if (p->key && !strcmp(p->key, key)) return p;
    return NULL;
}

static const char *param_str(const kiln_param_t *map, const char *key)
{
    const kiln_param_t *p = param_get(map, key);
    return p && p->kind == KILN_PARAM_STRING ? p->u.str.ptr : NULL;
}

static bool grow(kiln_arena_t *a, void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = kiln_arena_alloc(a, nc * elem);
    if (!na) return false;
    if (n) memcpy(na, *arr, n * elem);
    *arr = na;
    *cap = nc;
    return true;
}

static kiln_cs_error_t *add_error(kiln_changeset_t *cs, const char *field, const char *message,
                                  const char *validation)
{
    cs->valid = false;
    if (!grow(cs->arena, (void **)&cs->errors, &cs->cap_errors, cs->n_errors, sizeof *cs->errors)) return NULL;
    kiln_cs_error_t *e = &cs->errors[cs->n_errors++];
    *e = (kiln_cs_error_t){ .field = field, .message = message, .validation = validation };
    return e;
}

void kiln_cs_add_error(kiln_changeset_t *cs, const char *field, const char *message, const char *validation)
{
    add_error(cs, field, message, validation);
}

const kiln_cs_error_t *kiln_cs_error_on(const kiln_changeset_t *cs, const char *field)
{
    for (size_t i = 0; i < cs->n_errors; i++)
        if (!strcmp(cs->errors[i].field, field)) return &cs->errors[i];
    return NULL;
}

static bool same(const kiln_field_t *f, const void *a, const void *b)
{
    const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
    switch (f->type) {
    case KILN_T_BINARY: {
        const kiln_blob_t *x = (const void *)pa, *y = (const void *)pb;
        return x->len == y->len && (!x->len || !memcmp(x->ptr, y->ptr, x->len));
    }
    case KILN_T_INTEGER: case KILN_T_FLOAT: case KILN_T_BOOLEAN: case KILN_T_UTC:
        return !memcmp(pa, pb, kiln__field_size(f->type));
    default: {
        const char *x = *(const char *const *)(const void *)pa, *y = *(const char *const *)(const void *)pb;
        return x == y || (x && y && !strcmp(x, y));
    }
    }
}

static void mark(kiln_changeset_t *cs, size_t i)
{
    if (same(&cs->schema->fields[i], cs->data, cs->changes)) cs->changed &= ~(1ull << i);
    else cs->changed |= 1ull << i;
}

static bool decimal_ok(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    size_t n = strspn(s, "0123456789");
    if (!n) return false;
    s += n;
    if (*s == '.') {
        n = strspn(++s, "0123456789");
        if (!n) return false;
        s += n;
    }
    return !*s;
}

/* Converts text s into field f of rec; returns false when s is not a valid value. */
static bool cast_value(const kiln_field_t *f, void *rec, const char *s, size_t len)
{
    char *p = (char *)rec + f->offset, *end;
    switch (f->type) {
    case KILN_T_INTEGER: {
        long long x = strtoll(s, &end, 10);
        if (!*s || *end) return false;
        *(int64_t *)(void *)p = x;
        return true;
    }
    case KILN_T_FLOAT: {
        double x = strtod(s, &end);
        if (!*s || *end || !isfinite(x)) return false;
        *(double *)(void *)p = x;
        return true;
    }
    case KILN_T_BOOLEAN: {
        static const char *const yes[] = { "true", "1", "on", "yes" }, *const no[] = { "false", "0", "off", "no" };
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(s, yes[i])) return *(bool *)(void *)p = true, true;
            if (!strcasecmp(s, no[i])) return *(bool *)(void *)p = false, true;
        }
        return false;
    }
    case KILN_T_UTC: return kiln_utc_parse(s, (int64_t *)(void *)p) == 0;
    case KILN_T_BINARY: *(kiln_blob_t *)(void *)p = (kiln_blob_t){ (const uint8_t *)s, len }; return true;
    case KILN_T_DATE:
        if (*s && !kiln_date_valid(s)) return false;
        break;
    case KILN_T_DECIMAL:
        if (*s && !decimal_ok(s)) return false;
        break;
    default: break;
    }
    *(const char **)(void *)p = *s ? s : NULL; /* "" is an empty form field: NULL, as Ecto does */
    return true;
}

kiln_changeset_t *kiln_cs_cast(kiln_arena_t *a, const kiln_schema_t *s, const void *data, const kiln_param_t *params,
                               const char *const *permitted)
{
    kiln_changeset_t *cs = kiln_arena_calloc(a, sizeof *cs);
    void *copy = kiln_arena_calloc(a, s->size), *orig = data ? (void *)data : kiln_arena_calloc(a, s->size);
    if (!cs || !copy || !orig) return NULL;
    memcpy(copy, orig, s->size);
    *cs = (kiln_changeset_t){ .schema = s, .arena = a, .data = orig, .changes = copy, .params = params, .valid = true };
    for (size_t k = 0; permitted && permitted[k]; k++) {
        size_t i;
        const kiln_field_t *f = kiln_schema_field(s, permitted[k], &i);
        if (!f) {
            add_error(cs, permitted[k], "is not a field", "cast");
            continue;
        }
        const kiln_param_t *p = param_get(params, f->name);
        if (!p) continue;
        if (p->kind != KILN_PARAM_STRING || !cast_value(f, copy, p->u.str.ptr, p->u.str.len)) {
            kiln_cs_error_t *e = add_error(cs, f->name, "is invalid", "cast");
            if (e) e->kind = "type";
            continue;
        }
        mark(cs, i);
    }
    return cs;
}

int kiln_cs_put(kiln_changeset_t *cs, const char *field, const void *value)
{
    size_t i;
    const kiln_field_t *f = kiln_schema_field(cs->schema, field, &i);
    if (!f) return KILN_ENOENT;
    memcpy((char *)cs->changes + f->offset, value, kiln__field_size(f->type));
    mark(cs, i);
    return 0;
}

int kiln_cs_changed(const kiln_changeset_t *cs, const char *field)
{
    size_t i;
    return kiln_schema_field(cs->schema, field, &i) && (cs->changed >> i & 1);
}

/* ---- validations ---- */

static bool is_blank(const kiln_field_t *f, const void *rec)
{
    const char *p = (const char *)rec + f->offset;
    switch (f->type) {
    case KILN_T_INTEGER: case KILN_T_FLOAT: case KILN_T_BOOLEAN: case KILN_T_UTC: return false;
    case KILN_T_BINARY: return ((const kiln_blob_t *)(const void *)p)->len == 0;
    default: {
        const char *s = *(const char *const *)(const void *)p;
        if (!s) return true;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        return !*s;
    }
    }
}

/* The field to validate, or NULL when the validation does not apply (no such
 * field: an error; unchanged or NULL: skipped). */
static const kiln_field_t *target(kiln_changeset_t *cs, const char *field)
{
    size_t i;
    const kiln_field_t *f = kiln_schema_field(cs->schema, field, &i);
    if (!f) {
        add_error(cs, field, "is not a field", "cast");
        return NULL;
    }
    if (!(cs->changed >> i & 1) || is_blank(f, cs->changes) || kiln_cs_error_on(cs, field)) return NULL;
    return f;
}

static const char *text_of(const kiln_changeset_t *cs, const kiln_field_t *f)
{
    kiln_val_t v = kiln__field_get(f, cs->changes, cs->arena);
    if (v.kind == KILN_VAL_INT) return kiln_arena_sprintf(cs->arena, "%lld", (long long)v.i);
    if (v.kind == KILN_VAL_FLOAT) return kiln_arena_sprintf(cs->arena, "%g", v.f);
    return v.s;
}

void kiln_cs_validate_required(kiln_changeset_t *cs, const char *const *fields)
{
    for (size_t k = 0; fields[k]; k++) {
        const kiln_field_t *f = kiln_schema_field(cs->schema, fields[k], NULL);
        if (!f) add_error(cs, fields[k], "is not a field", "cast");
        else if (is_blank(f, cs->changes) && !kiln_cs_error_on(cs, fields[k]))
            add_error(cs, f->name, "can't be blank", "required");
    }
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

void kiln_cs_validate_length(kiln_changeset_t *cs, const char *field, long min, long max)
{
    const kiln_field_t *f = target(cs, field);
    if (!f) return;
    const char *p = (const char *)cs->changes + f->offset;
    size_t n = f->type == KILN_T_BINARY ? ((const kiln_blob_t *)(const void *)p)->len
                                        : utf8_len(*(const char *const *)(const void *)p);
    kiln_cs_error_t *e = NULL;
    if (min >= 0 && n < (size_t)min) {
        e = add_error(cs, f->name, kiln_arena_sprintf(cs->arena, "should be at least %ld character(s)", min), "length");
        if (e) e->kind = "min", e->count = (double)min;
    } else if (max >= 0 && n > (size_t)max) {
        e = add_error(cs, f->name, kiln_arena_sprintf(cs->arena, "should be at most %ld character(s)", max), "length");
        if (e) e->kind = "max", e->count = (double)max;
    }
}

void kiln_cs_validate_format(kiln_changeset_t *cs, const char *field, const char *regex, const char *message)
{
    const kiln_field_t *f = target(cs, field);
    if (!f) return;
    regex_t re;
    if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0) {
        add_error(cs, field, "has an invalid format rule", "format");
        return;
    }
    if (regexec(&re, text_of(cs, f), 0, NULL, 0) != 0) add_error(cs, f->name, message ? message : "has invalid format", "format");
    regfree(&re);
}

void kiln_cs_validate_number(kiln_changeset_t *cs, const char *field, double min, double max)
{
    const kiln_field_t *f = target(cs, field);
    if (!f) return;
    double x = strtod(text_of(cs, f), NULL);
    kiln_cs_error_t *e = NULL;
    if (!isnan(min) && x < min) {
        e = add_error(cs, f->name, kiln_arena_sprintf(cs->arena, "must be greater than or equal to %g", min), "number");
        if (e) e->kind = "min", e->count = min;
    } else if (!isnan(max) && x > max) {
        e = add_error(cs, f->name, kiln_arena_sprintf(cs->arena, "must be less than or equal to %g", max), "number");
        if (e) e->kind = "max", e->count = max;
    }
}

static bool listed(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i])) return true;
    return false;
}

void kiln_cs_validate_inclusion(kiln_changeset_t *cs, const char *field, const char *const *allowed)
{
    const kiln_field_t *f = target(cs, field);
    if (f && !listed(text_of(cs, f), allowed)) add_error(cs, f->name, "is invalid", "inclusion");
}

void kiln_cs_validate_exclusion(kiln_changeset_t *cs, const char *field, const char *const *reserved)
{
    const kiln_field_t *f = target(cs, field);
    if (f && listed(text_of(cs, f), reserved)) add_error(cs, f->name, "is reserved", "exclusion");
}

void kiln_cs_validate_confirmation(kiln_changeset_t *cs, const char *field)
{
    const char *v = param_str(cs->params, field);
    char *key = kiln_arena_sprintf(cs->arena, "%s_confirmation", field);
    if (!v || !key) return;
    const char *conf = param_str(cs->params, key);
    if (!conf || strcmp(v, conf)) add_error(cs, key, "does not match confirmation", "confirmation");
}

void kiln_cs_validate_acceptance(kiln_changeset_t *cs, const char *field)
{
    const char *v = param_str(cs->params, field);
    if (!v || !(!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on")))
        add_error(cs, field, "must be accepted", "acceptance");
}

void kiln_cs_validate_change(kiln_changeset_t *cs, const char *field, const char *validation, kiln_cs_validate_cb fn,
                             void *ud)
{
    const kiln_field_t *f = target(cs, field);
    const char *msg = f ? fn(cs, field, ud) : NULL;
    if (msg) add_error(cs, f->name, msg, validation ? validation : "custom");
}

/* ---- constraints ---- */

static void add_constraint(kiln_changeset_t *cs, const char *field, kiln_dberr_kind_t kind, const char *name,
                           const char *message)
{
    if (!grow(cs->arena, (void **)&cs->constraints, &cs->cap_constraints, cs->n_constraints,
              sizeof *cs->constraints))
        return;
    cs->constraints[cs->n_constraints++] = (kiln_cs_constraint_t){ field, kind, name, message };
}

void kiln_cs_unique_constraint(kiln_changeset_t *cs, const char *field, const char *name)
{
    add_constraint(cs, field, KILN_DBERR_UNIQUE,
                   name ? name : kiln_arena_sprintf(cs->arena, "%s_%s_index", cs->schema->table, field),
                   "has already been taken");
}

void kiln_cs_foreign_key_constraint(kiln_changeset_t *cs, const char *field, const char *name)
{
    add_constraint(cs, field, KILN_DBERR_FOREIGN_KEY,
                   name ? name : kiln_arena_sprintf(cs->arena, "%s_%s_fkey", cs->schema->table, field),
                   "does not exist");
}

void kiln_cs_check_constraint(kiln_changeset_t *cs, const char *field, const char *name, const char *message)
{
    add_constraint(cs, field, KILN_DBERR_CHECK, name, message ? message : "is invalid");
}

/* SQLite names the columns of a failed unique index: "users.email, users.x". */
static bool sqlite_unique_match(const kiln_changeset_t *cs, const kiln_cs_constraint_t *k, const char *cols)
{
    size_t tl = strlen(cs->schema->table), fl = strlen(k->field);
    return !strncmp(cols, cs->schema->table, tl) && cols[tl] == '.' && !strncmp(cols + tl + 1, k->field, fl) &&
           (cols[tl + 1 + fl] == 0 || cols[tl + 1 + fl] == ',');
}

static bool matches(const kiln_changeset_t *cs, const kiln_cs_constraint_t *k, const kiln_db_error_t *e)
{
    if (k->kind != e->kind) return false;
    if (!strcmp(k->name ? k->name : "", e->constraint)) return true;
    if (e->sqlstate[0]) return false; /* PostgreSQL: names only */
    if (e->kind == KILN_DBERR_UNIQUE) return sqlite_unique_match(cs, k, e->constraint);
    return e->kind == KILN_DBERR_FOREIGN_KEY; /* SQLite does not say which: the first declared */
}

int kiln_cs_apply_db_error(kiln_changeset_t *cs, const kiln_db_error_t *e)
{
    for (size_t i = 0; i < cs->n_constraints; i++) {
        const kiln_cs_constraint_t *k = &cs->constraints[i];
        if (!matches(cs, k, e)) continue;
        kiln_cs_error_t *err = add_error(cs, k->field, k->message,
                                         k->kind == KILN_DBERR_UNIQUE        ? "unique"
                                         : k->kind == KILN_DBERR_FOREIGN_KEY ? "foreign"
                                                                             : "check");
        if (err) err->constraint = kiln_arena_strndup(cs->arena, e->constraint, strlen(e->constraint));
        return 1;
    }
    return 0;
}
