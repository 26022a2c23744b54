/*
 * CHECK for the C tests: counts a failed condition in `failures` and says where (with the
 * process id, for the tests that fork), without stopping the test.
 */
#ifndef AGORA_LINK_TEST_CHECK_H
#define AGORA_LINK_TEST_CHECK_H

#include <stdio.h>
#include <unistd.h>

static int failures;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "[%d] %s:%d: check failed: %s\n", (int)getpid(), __FILE__,   \
                    __LINE__, #condition);                                                \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

#endif
