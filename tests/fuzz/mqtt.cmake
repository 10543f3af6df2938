# fuzz_mqtt: arbitrary bytes through mqtt_parse (whole and split) in every parser role,
# plus the encode/re-parse round trip of every parsed packet, the PUBLISH header fast
# path and the STOMP topic mapping. Links the pure codec only.
pmq_fuzz_target(fuzz_mqtt SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_mqtt.c
                LIBS pmq_mqtt_codec pmq_base)
