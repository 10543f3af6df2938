/* Unit tests for src/auth: the users file format, its errors, and the rules for
 * anonymous and named clients. Hashes are made here with crypt(3). */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_util.h"

#include "paxmq/auth.h"

static char path[64];

static void write_users(const char *text) {
    strcpy(path, "/tmp/pmq-auth-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_users_file_and_rules(void **state) {
    (void)state;
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *h = crypt_r("s3cret", "$6$saltsalt$", &cd);
    char text[512];
    snprintf(text, sizeof(text), "# operators\nalice:%s:admins,ops\n\nbob:%s:\n", h, h);
    write_users(text);
    char err[256] = "";
    auth_t *a = NULL;
    assert_int_equal(auth_load(&a, path, false, err, sizeof(err)), 0);
    assert_int_equal(auth_user_count(a), 2);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("alice"), PMQ_SLICE_LIT("s3cret")), 0);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("bob"), PMQ_SLICE_LIT("s3cret")), 0);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("alice"), PMQ_SLICE_LIT("wrong")), PMQ_EDENIED);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("carol"), PMQ_SLICE_LIT("s3cret")), PMQ_EDENIED);
    assert_int_equal(auth_check(a, false, PMQ_SLICE_LIT(""), PMQ_SLICE_LIT("")), PMQ_EDENIED);
    auth_free(a);
    /* anonymous allowed: no credentials pass, wrong ones still fail */
    assert_int_equal(auth_load(&a, path, true, err, sizeof(err)), 0);
    assert_int_equal(auth_check(a, false, PMQ_SLICE_LIT(""), PMQ_SLICE_LIT("")), 0);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("alice"), PMQ_SLICE_LIT("nope")), PMQ_EDENIED);
    auth_free(a);
    unlink(path);
}

static void test_bad_files_name_the_line(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"alice:plaintext:\n", "line 1: the password must be a crypt(3) hash"},
        {"# ok\nalice\n", "line 2: expected name:crypt-hash:groups"},
        {"al ice:$6$x$y:\n", "line 1: user names may contain"},
        {"a:$6$x$y:\na:$6$x$y:\n", "line 2: user listed twice"},
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(cases); i++) {
        write_users(cases[i][0]);
        char err[256] = "";
        auth_t *a = NULL;
        assert_int_equal(auth_load(&a, path, true, err, sizeof(err)), PMQ_ECONFIG);
        assert_non_null(strstr(err, "auth.users_file="));
        assert_non_null(strstr(err, cases[i][1]));
        unlink(path);
    }
    char err[256];
    auth_t *a = NULL;
    assert_int_equal(auth_load(&a, "/nonexistent/users", true, err, sizeof(err)), PMQ_ECONFIG);
    assert_non_null(strstr(err, "No such file"));
}

static void test_no_users_file(void **state) {
    (void)state;
    char err[64];
    auth_t *a = NULL;
    assert_int_equal(auth_load(&a, NULL, true, err, sizeof(err)), 0);
    assert_int_equal(auth_check(a, false, PMQ_SLICE_LIT(""), PMQ_SLICE_LIT("")), 0);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("x"), PMQ_SLICE_LIT("y")), 0);
    auth_free(a);
    assert_int_equal(auth_load(&a, NULL, false, err, sizeof(err)), 0);
    assert_int_equal(auth_check(a, true, PMQ_SLICE_LIT("x"), PMQ_SLICE_LIT("y")), PMQ_EDENIED);
    auth_free(a);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_file_and_rules),
        cmocka_unit_test(test_bad_files_name_the_line),
        cmocka_unit_test(test_no_users_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
