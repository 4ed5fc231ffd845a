/* wipe.c: explicit_bzero (glibc) keeps the stores the optimiser would drop. */
#include "util/wipe.h"

#include <stdlib.h>
#include <string.h>

void wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        explicit_bzero(p, n);
    }
}

void wipe_free_str(char *s)
{
    if (s != NULL) {
        wipe(s, strlen(s));
        free(s);
    }
}
