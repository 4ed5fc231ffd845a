/*
 * tstore.h: a SQLite store in a fresh temporary directory, for the unit
 * tests that need a real store file (tamper tests open the file on their own
 * connection, as an attacker with the file would).  Failures fail the test.
 */
#ifndef MANDATE_TESTS_TSTORE_H
#define MANDATE_TESTS_TSTORE_H

#include "store/store.h"

struct tstore {
    char dir[64];
    char path[96];
    struct store *s;
};

/* Creates /tmp/mandate-<tag>-XXXXXX and a migrated store m.db in it. */
void tstore_open(struct tstore *t, const char *tag);
/* Closes the store and removes the directory. */
void tstore_close(struct tstore *t);
/* Runs sql on the file through a connection of its own. */
void tstore_sql(const struct tstore *t, const char *sql);

#endif
