pmq_unit_test(test_rlog SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_rlog.c LIBS pmq_rlog pmq_base)
pmq_unit_test(test_broker SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_broker.c LIBS pmq_broker pmq_rlog pmq_base)
