# MQTT sessions: the rlog commands they are stored as.
pmq_unit_test(test_rlog_mqtt SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_rlog_mqtt.c
              LIBS pmq_rlog pmq_base)
# The broker's MQTT state: routing, durable sessions, QoS 2 state, retained messages,
# determinism of apply and snapshots.
pmq_unit_test(test_mqtt_state SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_mqtt_state.c
              LIBS pmq_broker pmq_rlog pmq_base)
# The socket-free parts of the MQTT session: packet ids, the window, the pending ring,
# the inbound QoS 2 id set (internal helpers, hence the private include directory).
pmq_unit_test(test_mqtt_session SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_mqtt_session.c
              LIBS pmq_mqtt pmq_base)
target_include_directories(test_mqtt_session PRIVATE ${PROJECT_SOURCE_DIR}/src/proto/mqtt)
