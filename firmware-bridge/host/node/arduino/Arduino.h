/* Node runtime: the Arduino-ESP32 (core 3.x) API that ESP-NOW sketches use,
 * on the same ESP-IDF runtime. setup() runs once, then loop() forever, in the
 * "loopTask" task (priority 1). A pass of loop() that never blocks costs one
 * tick (1 ms) of simulated time, so a busy loop lets time advance. */
#ifndef NODE_ARDUINO_H
#define NODE_ARDUINO_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_attr.h"
#include "esp_err.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_random.h"
#include "esp_sleep.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#ifdef __cplusplus
#include <algorithm>
#include <string>
using std::max;
using std::min;

#define HEX 16
#define DEC 10
#define OCT 8
#define BIN 2

typedef bool boolean;
typedef uint8_t byte;
typedef unsigned int word;

unsigned long millis(void);
unsigned long micros(void);
void delay(uint32_t ms);
void delayMicroseconds(uint32_t us);
void yield(void);
long random(long max);
long random(long min, long max);
void randomSeed(unsigned long seed);
long map(long x, long in_min, long in_max, long out_min, long out_max);
#define constrain(amt, low, high) ((amt) < (low) ? (low) : ((amt) > (high) ? (high) : (amt)))

class String {
public:
    String() {}
    String(const char *s) : s_(s ? s : "") {}
    String(const std::string &s) : s_(s) {}
    String(char c) : s_(1, c) {}
    String(int v, unsigned char base = 10);
    String(unsigned int v, unsigned char base = 10);
    String(long v, unsigned char base = 10);
    String(unsigned long v, unsigned char base = 10);
    String(double v, unsigned int decimals = 2);
    const char *c_str() const { return s_.c_str(); }
    unsigned int length() const { return (unsigned int)s_.size(); }
    bool isEmpty() const { return s_.empty(); }
    String &operator+=(const String &o) { s_ += o.s_; return *this; }
    String &concat(const String &o) { s_ += o.s_; return *this; }
    friend String operator+(const String &a, const String &b) { return String(a.s_ + b.s_); }
    bool operator==(const String &o) const { return s_ == o.s_; }
    bool operator!=(const String &o) const { return s_ != o.s_; }
    char operator[](unsigned int i) const { return i < s_.size() ? s_[i] : 0; }
    int indexOf(char c) const { auto p = s_.find(c); return p == std::string::npos ? -1 : (int)p; }
    String substring(unsigned int from) const { return from < s_.size() ? String(s_.substr(from)) : String(); }
    String substring(unsigned int from, unsigned int to) const
    {
        return from < s_.size() && to > from ? String(s_.substr(from, to - from)) : String();
    }
    long toInt() const { return strtol(s_.c_str(), NULL, 10); }
    float toFloat() const { return strtof(s_.c_str(), NULL); }
    void toUpperCase();
    void toLowerCase();

private:
    std::string s_;
};

class Print {
public:
    virtual ~Print() {}
    virtual size_t write(uint8_t c) = 0;
    virtual size_t write(const uint8_t *buf, size_t n);
    size_t write(const char *s) { return s ? write((const uint8_t *)s, strlen(s)) : 0; }
    size_t print(const char *s) { return write(s); }
    size_t print(const String &s) { return write(s.c_str()); }
    size_t print(char c) { return write((uint8_t)c); }
    size_t print(unsigned char v, int base = DEC) { return print((unsigned long)v, base); }
    size_t print(int v, int base = DEC) { return print((long)v, base); }
    size_t print(unsigned int v, int base = DEC) { return print((unsigned long)v, base); }
    size_t print(long v, int base = DEC);
    size_t print(unsigned long v, int base = DEC);
    size_t print(long long v, int base = DEC);
    size_t print(unsigned long long v, int base = DEC);
    size_t print(double v, int decimals = 2);
    template <typename T> size_t println(const T &v) { size_t n = print(v); return n + println(); }
    template <typename T> size_t println(const T &v, int fmt) { size_t n = print(v, fmt); return n + println(); }
    size_t println() { return write("\r\n"); }
    size_t printf(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
};

class HardwareSerial : public Print {
public:
    using Print::write;
    void begin(unsigned long baud, uint32_t config = 0, int8_t rx = -1, int8_t tx = -1) { (void)baud; (void)config; (void)rx; (void)tx; }
    void end() {}
    int available() { return 0; }          /* nothing types into a simulated node */
    int read() { return -1; }
    int peek() { return -1; }
    void flush();
    size_t write(uint8_t c) override;
    size_t write(const uint8_t *buf, size_t n) override;
    void setDebugOutput(bool on) { (void)on; }
    operator bool() const { return true; }
};
extern HardwareSerial Serial;

class EspClass {
public:
    void restart() { esp_restart(); }
    uint64_t getEfuseMac();
    uint32_t getFreeHeap() { return esp_get_free_heap_size(); }
    uint32_t getMinFreeHeap() { return esp_get_minimum_free_heap_size(); }
    const char *getChipModel() { return "ESP32"; }
    uint8_t getChipCores() { return 1; }
    const char *getSdkVersion() { return esp_get_idf_version(); }
    void deepSleep(uint64_t us) { esp_deep_sleep(us); }
};
extern EspClass ESP;

void setup(void);
void loop(void);
#endif

#endif
