/* Persistent MQTT sessions in the broker state (work in progress). */
#include "broker_int.h"

int broker__mqtt_apply(broker_t *b, const rlog_cmd_t *c) {
    (void)b;
    (void)c;
    return 0;
}
