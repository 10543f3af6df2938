/* Retained MQTT messages (work in progress). */
#include "broker_int.h"
