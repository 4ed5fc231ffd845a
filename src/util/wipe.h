/* wipe.h: erase secrets so that the compiler cannot optimise it away. */
#ifndef MANDATE_UTIL_WIPE_H
#define MANDATE_UTIL_WIPE_H

#include <stddef.h>

/* Zeroes p[0..n); p may be NULL when n is 0. */
void wipe(void *p, size_t n);

/* Wipes and frees a NUL-terminated secret string; s may be NULL. */
void wipe_free_str(char *s);

#endif
