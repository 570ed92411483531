/* ESP-IDF log output becomes LOG events, so no log text ever lands between frames. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bridge_core.h"
#include "esp_log.h"

static int bridge_vprintf(const char *fmt, va_list args)
{
    char line[224];
    int n = vsnprintf(line, sizeof line, fmt, args);
    if (n <= 0) return n;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    /* ESP_LOGx lines start with the level letter: "E (123) tag: text". */
    uint8_t level = 3;
    switch (line[0]) {
    case 'E': level = 1; break;
    case 'W': level = 2; break;
    case 'I': level = 3; break;
    case 'D': level = 4; break;
    case 'V': level = 5; break;
    default: break;
    }
    if (len > 0) br_core_log(level, line, len);
    return n;
}

void log_redirect_install(void)
{
    esp_log_set_vprintf(bridge_vprintf);
}
