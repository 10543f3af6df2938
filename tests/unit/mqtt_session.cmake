# MQTT sessions: the rlog commands they are stored as.
pmq_unit_test(test_rlog_mqtt SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_rlog_mqtt.c
              LIBS pmq_rlog pmq_base)
