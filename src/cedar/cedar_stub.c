/* cedar_stub.c: placeholder so the library has a source; remove once real files exist. */
