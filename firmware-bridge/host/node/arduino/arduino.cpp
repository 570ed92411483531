/* Arduino-ESP32 core functions on the node runtime. */
#include <algorithm>

#include "Arduino.h"
#include "WiFi.h"
#include "esp_event.h"
#include "esp_netif.h"

extern "C" uint64_t rt_block_count(void);

HardwareSerial Serial;
EspClass ESP;
WiFiClass WiFi;

unsigned long millis(void) { return (unsigned long)(esp_timer_get_time() / 1000); }
unsigned long micros(void) { return (unsigned long)esp_timer_get_time(); }
void delay(uint32_t ms) { vTaskDelay(ms / portTICK_PERIOD_MS ? ms / portTICK_PERIOD_MS : (ms ? 1 : 0)); }
void delayMicroseconds(uint32_t us) { (void)us; }   /* shorter than a tick: code takes no simulated time */
void yield(void) { vPortYield(); }

static bool s_seeded;
static uint32_t s_seed;
long random(long max)
{
    if (max <= 0) return 0;
    uint32_t r = s_seeded ? (s_seed = s_seed * 1103515245u + 12345u) : esp_random();
    return (long)(r % (uint32_t)max);
}
long random(long min, long max) { return max <= min ? min : min + random(max - min); }
void randomSeed(unsigned long seed)
{
    if (seed) {
        s_seeded = true;
        s_seed = (uint32_t)seed;
    }
}
long map(long x, long in_min, long in_max, long out_min, long out_max)
{
    if (in_max == in_min) return out_min;
    return (x - in_min) * (out_max - out_min) / (in_max - in_min) + out_min;
}

static std::string to_base(unsigned long long v, int base)
{
    if (base < 2 || base > 36) base = 10;
    std::string s;
    do {
        int d = (int)(v % (unsigned)base);
        s.insert(s.begin(), (char)(d < 10 ? '0' + d : 'A' + d - 10));
        v /= (unsigned)base;
    } while (v);
    return s;
}
static std::string to_base_signed(long long v, int base)
{
    if (base == 10 && v < 0) return "-" + to_base((unsigned long long)(-(v + 1)) + 1, 10);
    return to_base((unsigned long long)v, base);
}
static std::string fixed(double v, unsigned decimals)
{
    char b[64];
    snprintf(b, sizeof b, "%.*f", (int)decimals, v);
    return b;
}

String::String(int v, unsigned char base) : s_(to_base_signed(v, base)) {}
String::String(unsigned int v, unsigned char base) : s_(to_base(v, base)) {}
String::String(long v, unsigned char base) : s_(to_base_signed(v, base)) {}
String::String(unsigned long v, unsigned char base) : s_(to_base(v, base)) {}
String::String(double v, unsigned int decimals) : s_(fixed(v, decimals)) {}
void String::toUpperCase() { for (auto &c : s_) c = (char)toupper((unsigned char)c); }
void String::toLowerCase() { for (auto &c : s_) c = (char)tolower((unsigned char)c); }

size_t Print::write(const uint8_t *buf, size_t n)
{
    size_t k = 0;
    while (k < n && write(buf[k])) k++;
    return k;
}
size_t Print::print(long v, int base) { return write(to_base_signed(v, base).c_str()); }
size_t Print::print(unsigned long v, int base) { return write(to_base(v, base).c_str()); }
size_t Print::print(long long v, int base) { return write(to_base_signed(v, base).c_str()); }
size_t Print::print(unsigned long long v, int base) { return write(to_base(v, base).c_str()); }
size_t Print::print(double v, int decimals) { return write(fixed(v, (unsigned)std::max(decimals, 0)).c_str()); }
size_t Print::printf(const char *fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n < 0) return 0;
    return write((const uint8_t *)b, std::min((size_t)n, sizeof b - 1));
}

/* The console: "\r\n" from println becomes one line. */
size_t HardwareSerial::write(uint8_t c)
{
    if (c != '\r') putchar(c);
    return 1;
}
size_t HardwareSerial::write(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) write(buf[i]);
    return n;
}
void HardwareSerial::flush() { fflush(stdout); }

uint64_t EspClass::getEfuseMac()
{
    uint8_t m[6];
    esp_efuse_mac_get_default(m);
    uint64_t v = 0;
    for (int i = 5; i >= 0; i--) v = v << 8 | m[i];
    return v;
}

/* ---- WiFi */

static bool s_wifi_init;

bool WiFiClass::mode(wifi_mode_t m)
{
    if (!s_wifi_init) {
        if (m == WIFI_MODE_NULL) return true;
        esp_netif_init();
        esp_err_t e = esp_event_loop_create_default();
        if (e != ESP_OK && e != ESP_ERR_INVALID_STATE) return false;
        wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
        if (esp_wifi_init(&cfg) != ESP_OK) return false;
        esp_wifi_set_storage(WIFI_STORAGE_RAM);
        s_wifi_init = true;
    }
    if (m == WIFI_MODE_NULL) return esp_wifi_stop() == ESP_OK;
    if (esp_wifi_set_mode(m) != ESP_OK) return false;
    return esp_wifi_start() == ESP_OK;
}

wifi_mode_t WiFiClass::getMode()
{
    wifi_mode_t m = WIFI_MODE_NULL;
    if (s_wifi_init) esp_wifi_get_mode(&m);
    return m;
}

static String mac_string(const uint8_t *m)
{
    char b[18];
    snprintf(b, sizeof b, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2], m[3], m[4], m[5]);
    return String(b);
}

uint8_t *WiFiClass::macAddress(uint8_t *mac)
{
    if (s_wifi_init) esp_wifi_get_mac(WIFI_IF_STA, mac);
    else esp_read_mac(mac, ESP_MAC_WIFI_STA);
    return mac;
}
String WiFiClass::macAddress()
{
    uint8_t m[6];
    return mac_string(macAddress(m));
}
uint8_t *WiFiClass::softAPmacAddress(uint8_t *mac)
{
    if (s_wifi_init) esp_wifi_get_mac(WIFI_IF_AP, mac);
    else esp_read_mac(mac, ESP_MAC_WIFI_SOFTAP);
    return mac;
}
String WiFiClass::softAPmacAddress()
{
    uint8_t m[6];
    return mac_string(softAPmacAddress(m));
}
int32_t WiFiClass::channel()
{
    uint8_t p = 0;
    wifi_second_chan_t s;
    if (!s_wifi_init || esp_wifi_get_channel(&p, &s) != ESP_OK) return 0;
    return p;
}
bool WiFiClass::setChannel(uint8_t primary, wifi_second_chan_t second) { return esp_wifi_set_channel(primary, second) == ESP_OK; }
bool WiFiClass::disconnect(bool wifioff, bool eraseap)
{
    (void)eraseap;
    if (s_wifi_init) esp_wifi_disconnect();
    if (wifioff) return mode(WIFI_MODE_NULL);
    return true;
}
bool WiFiClass::setTxPower(int power) { return s_wifi_init && esp_wifi_set_max_tx_power((int8_t)power) == ESP_OK; }

/* ---- the sketch's task */

static void loop_task(void *arg)
{
    (void)arg;
    setup();
    for (;;) {
        uint64_t before = rt_block_count();
        loop();
        if (rt_block_count() == before) vTaskDelay(1);   /* a busy loop() still lets time pass */
    }
}

extern "C" void app_main(void)
{
    xTaskCreatePinnedToCore(loop_task, "loopTask", 8192, NULL, 1, NULL, 1);
}
