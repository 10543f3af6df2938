pmq_unit_test(test_stomp_codec SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_stomp_codec.c
              LIBS pmq_stomp_codec pmq_base)
set_tests_properties(test_stomp_codec PROPERTIES TIMEOUT 120)
