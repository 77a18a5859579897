/* tests/ews: loading the hand-written fixtures of tests/ews/fixtures. */
#ifndef TEST_PARSE_FIXTURE_H
#define TEST_PARSE_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads fixtures/NAME; caller frees. Fails the test when the file is missing. */
static char *
fixture(const char *name, size_t *len)
{
    const char *root = getenv("CP_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/ews/fixtures/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "fixture %s missing", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
