# The MQTT session layer: packets -> broker operations, over the net layer. Included by
# this directory's CMakeLists.txt after the pure codec.
pmq_layer(pmq_mqtt mqtt_session.c mqtt_session_connect.c mqtt_session_publish.c
          mqtt_session_sub.c mqtt_session_deliver.c mqtt_session_sys.c)
target_link_libraries(pmq_mqtt PUBLIC pmq_mqtt_codec pmq_broker pmq_net pmq_auth pmq_base)
