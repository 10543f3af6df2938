# MQTT codec and topic rules: pure, so the tests link only pmq_mqtt_codec and pmq_base.
pmq_unit_test(test_mqtt_codec SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_mqtt_codec.c
              LIBS pmq_mqtt_codec pmq_base)
pmq_unit_test(test_mqtt_topic SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_mqtt_topic.c
              LIBS pmq_mqtt_codec pmq_base)
