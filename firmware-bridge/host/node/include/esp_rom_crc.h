#include "esp_crc.h"
