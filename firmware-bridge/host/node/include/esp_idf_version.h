/* Node runtime: the emulation's version (v5.4.2), or v5.5.1 for applications built with `--idf 5.5`. */
#ifdef SIM_NODE_IDF_5_5
#ifndef ESP_IDF_VERSION_H
#define ESP_IDF_VERSION_H
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR 5
#define ESP_IDF_VERSION_PATCH 1
#define ESP_IDF_VERSION_VAL(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define ESP_IDF_VERSION ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH)
#endif
#else
#include "../../idf/include/esp_idf_version.h"
#endif
