pmq_unit_test(test_base SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_base.c LIBS pmq_base)
