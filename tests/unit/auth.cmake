pmq_unit_test(test_auth SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_auth.c LIBS pmq_auth pmq_base)
