# The config layer's tests also include src/config/cfg_int.h to check the key table's
# invariants (unique env names, contiguous sections).
pmq_unit_test(test_config SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_config.c
              LIBS pmq_config pmq_base)
target_include_directories(test_config PRIVATE ${PROJECT_SOURCE_DIR}/src/config)
target_compile_definitions(test_config PRIVATE
  PMQ_TEST_DATA_FALLBACK="${PROJECT_SOURCE_DIR}/tests/unit/data")
