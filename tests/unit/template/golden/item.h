/* Test fixture for the template golden tests: the element type of page.kiln's loop. */
#ifndef GOLDEN_ITEM_H
#define GOLDEN_ITEM_H
typedef struct item {
    int id;
    const char *name;
    const char *url;
} item_t;
#endif
