/* Schemas: field lookup, the UTC/date formats, and the two conversions the
 * repo needs — a struct field to a bound value, and a result cell to a
 * struct field.
 *
 * Conversions are lenient on the way in from the database (PostgreSQL sends
 * booleans as INT here, numerics as text; SQLite stores whatever the column
 * affinity made of a value), and exact on the way out. */
#include "data/schema_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const kiln_field_t *kiln_schema_field(const kiln_schema_t *s, const char *name, size_t *index)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (!strcmp(s->fields[i].name, name)) {
            if (index) *index = i;
            return &s->fields[i];
        }
    return NULL;
}

const kiln_field_t *kiln_schema_pk(const kiln_schema_t *s)
{
    return kiln_schema_field(s, s->primary_key ? s->primary_key : "id", NULL);
}

const kiln_assoc_t *kiln_schema_assoc(const kiln_schema_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_assocs; i++)
        if (!strcmp(s->assocs[i].name, name)) return &s->assocs[i];
    return NULL;
}

void kiln_utc_format(int64_t t, char out[20])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Parses "YYYY-MM-DD" at s; returns the characters used (10) or 0. */
static int parse_date(const char *s, struct tm *tm)
{
    int y, m, d, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10) return 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return 0;
    *tm = (struct tm){ .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
    return n;
}

int kiln_date_valid(const char *s)
{
    struct tm tm;
    return s && parse_date(s, &tm) == 10 && s[10] == 0;
}

int kiln_utc_parse(const char *s, int64_t *out)
{
    struct tm tm;
    int n = s ? parse_date(s, &tm) : 0;
    if (!n) return KILN_EINVAL;
    s += n;
    if (*s == ' ' || *s == 'T') {
        int h, mi, sec, k = 0;
        if (sscanf(s + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &k) != 3 || k != 8 || h > 23 || mi > 59 || sec > 60)
            return KILN_EINVAL;
        tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
        s += 1 + k;
        if (*s == '.')
            for (s++; *s >= '0' && *s <= '9'; s++) {}
        if (!strcmp(s, "+00") || !strcmp(s, "+00:00")) s += strlen(s);
    }
    if (*s == 'Z') s++;
    if (*s) return KILN_EINVAL;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* ---- struct <-> values ---- */

kiln_val_t kiln__field_get(const kiln_field_t *f, const void *rec, kiln_arena_t *a)
{
    const char *p = (const char *)rec + f->offset;
    switch (f->type) {
    case KILN_T_INTEGER: return KILN_VINT(*(const int64_t *)(const void *)p);
    case KILN_T_FLOAT: return KILN_VFLOAT(*(const double *)(const void *)p);
    case KILN_T_BOOLEAN: return KILN_VINT(*(const bool *)(const void *)p ? 1 : 0);
    case KILN_T_BINARY: {
        const kiln_blob_t *b = (const void *)p;
        return KILN_VBLOB(b->ptr ? (const char *)b->ptr : "", b->len);
    }
    case KILN_T_UTC: {
        char *s = kiln_arena_alloc(a, 20);
        if (!s) return KILN_VNULL;
        kiln_utc_format(*(const int64_t *)(const void *)p, s);
        return KILN_VTEXT(s);
    }
    default: {
        const char *s = *(const char *const *)(const void *)p;
        return s ? KILN_VTEXT(s) : KILN_VNULL;
    }
    }
}

static const char *as_text(const kiln_val_t *v, kiln_arena_t *a)
{
    switch (v->kind) {
    case KILN_VAL_TEXT:
    case KILN_VAL_BLOB: return v->s;
    case KILN_VAL_INT: return kiln_arena_sprintf(a, "%lld", (long long)v->i);
    case KILN_VAL_FLOAT: return kiln_arena_sprintf(a, "%.17g", v->f);
    default: return NULL;
    }
}

int kiln__field_set(const kiln_field_t *f, void *rec, const kiln_val_t *v, kiln_arena_t *a)
{
    char *p = (char *)rec + f->offset;
    bool null = v->kind == KILN_VAL_NULL;
    switch (f->type) {
    case KILN_T_INTEGER:
    case KILN_T_UTC:
        if (f->type == KILN_T_UTC && v->kind == KILN_VAL_TEXT) return kiln_utc_parse(v->s, (int64_t *)(void *)p);
        *(int64_t *)(void *)p = null                     ? 0
                                : v->kind == KILN_VAL_INT   ? v->i
                                : v->kind == KILN_VAL_FLOAT ? (int64_t)v->f
                                                            : strtoll(v->s, NULL, 10);
        return 0;
    case KILN_T_FLOAT:
        *(double *)(void *)p = null ? 0 : v->kind == KILN_VAL_INT ? (double)v->i
                                      : v->kind == KILN_VAL_FLOAT ? v->f
                                                                  : strtod(v->s, NULL);
        return 0;
    case KILN_T_BOOLEAN:
        *(bool *)(void *)p = !null && (v->kind == KILN_VAL_INT ? v->i != 0
                                       : v->kind == KILN_VAL_FLOAT ? v->f != 0
                                                                   : (v->s[0] == 't' || v->s[0] == '1'));
        return 0;
    case KILN_T_BINARY:
        *(kiln_blob_t *)(void *)p = null ? (kiln_blob_t){ 0 } : (kiln_blob_t){ (const uint8_t *)v->s, v->len };
        return 0;
    default: {
        const char *s = null ? NULL : as_text(v, a);
        if (!null && !s) return KILN_ENOMEM;
        *(const char **)(void *)p = s;
        return 0;
    }
    }
}

size_t kiln__field_size(kiln_type_t t)
{
    switch (t) {
    case KILN_T_INTEGER:
    case KILN_T_UTC: return sizeof(int64_t);
    case KILN_T_FLOAT: return sizeof(double);
    case KILN_T_BOOLEAN: return sizeof(bool);
    case KILN_T_BINARY: return sizeof(kiln_blob_t);
    default: return sizeof(const char *);
    }
}

int kiln__decode_into(const kiln_schema_t *s, const kiln_rows_t *r, kiln_arena_t *a, void *recs)
{
    int64_t t0 = kiln_now_ns();
    const kiln_field_t *small[16], **map = small;
    if (r->n_cols > KILN_ARRAY_LEN(small) && !(map = kiln_arena_alloc(a, r->n_cols * sizeof *map))) return KILN_ENOMEM;
    for (size_t c = 0; c < r->n_cols; c++) map[c] = kiln_schema_field(s, r->cols[c], NULL);
    for (size_t i = 0; i < r->n_rows; i++)
        for (size_t c = 0; c < r->n_cols; c++)
            if (map[c] && kiln__field_set(map[c], (char *)recs + i * s->size, kiln_rows_at(r, i, c), a) < 0)
                return KILN_EINVAL;
    ((kiln_rows_t *)r)->decode_ns += kiln_now_ns() - t0;
    return (int)r->n_rows;
}

int kiln__decode_rows(const kiln_schema_t *s, const kiln_rows_t *r, kiln_arena_t *a, void **out)
{
    char *recs = kiln_arena_calloc(a, (r->n_rows ? r->n_rows : 1) * s->size);
    if (!recs) return KILN_ENOMEM;
    int rc = kiln__decode_into(s, r, a, recs);
    if (rc >= 0) *out = recs;
    return rc;
}
