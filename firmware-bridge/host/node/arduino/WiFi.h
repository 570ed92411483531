/* Node runtime: the Arduino-ESP32 WiFi object as far as ESP-NOW sketches use it
 * (no station connection, no IP). */
#ifndef NODE_ARDUINO_WIFI_H
#define NODE_ARDUINO_WIFI_H

#include "Arduino.h"
#include "esp_wifi.h"

#define WIFI_OFF WIFI_MODE_NULL
#define WIFI_STA WIFI_MODE_STA
#define WIFI_AP WIFI_MODE_AP
#define WIFI_AP_STA WIFI_MODE_APSTA

class WiFiClass {
public:
    bool mode(wifi_mode_t m);
    wifi_mode_t getMode();
    String macAddress();
    uint8_t *macAddress(uint8_t *mac);
    String softAPmacAddress();
    uint8_t *softAPmacAddress(uint8_t *mac);
    int32_t channel();
    bool setChannel(uint8_t primary, wifi_second_chan_t second = WIFI_SECOND_CHAN_NONE);
    bool disconnect(bool wifioff = false, bool eraseap = false);
    bool setTxPower(int power);
};
extern WiFiClass WiFi;

#endif
