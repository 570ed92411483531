/* Test stand-in for the FreeRTOS types main/link_transport.h uses. */
#pragma once
#include <stdint.h>
typedef uint32_t TickType_t;
