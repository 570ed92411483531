/* main/link_transport.c (USB-Serial-JTAG) against a model of ESP-IDF's driver, whose
 * usb_serial_jtag_write_bytes() queues the whole buffer into its TX ring buffer or
 * nothing (xRingbufferSend of one item). The core hands link_write() up to its whole
 * 8 KiB queue at once and keeps what was not taken. */
#include <stdio.h>
#include <string.h>

#include "driver/usb_serial_jtag.h"
#include "link_transport.h"

static int g_pass, g_fail;
#define CHECK(cond) do { if (cond) g_pass++; else { g_fail++; printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

/* ---------- the driver model ---------- */
static uint32_t g_capacity;          /* tx_buffer_size given at install */
static uint8_t g_fifo[1 << 16];      /* bytes in the driver's ring buffer, oldest first */
static size_t g_used;
static uint8_t g_sent[1 << 16];      /* bytes that went out over USB */
static size_t g_sent_len;

esp_err_t usb_serial_jtag_driver_install(usb_serial_jtag_driver_config_t *cfg)
{
    g_capacity = cfg->tx_buffer_size;
    g_used = 0;
    return ESP_OK;
}

int usb_serial_jtag_read_bytes(void *buf, uint32_t length, TickType_t ticks_to_wait)
{
    (void)buf; (void)length; (void)ticks_to_wait;
    return 0;
}

int usb_serial_jtag_write_bytes(const void *src, size_t size, TickType_t ticks_to_wait)
{
    (void)ticks_to_wait;
    if (src == NULL || size == 0 || size > g_capacity - g_used) return 0;   /* all or nothing */
    memcpy(g_fifo + g_used, src, size);
    g_used += size;
    return (int)size;
}

/* The host reads one 64-byte full-speed packet. */
static void usb_packet_out(void)
{
    size_t n = g_used < 64 ? g_used : 64;
    memcpy(g_sent + g_sent_len, g_fifo, n);
    g_sent_len += n;
    memmove(g_fifo, g_fifo + n, g_used - n);
    g_used -= n;
}

static uint8_t g_data[12000];

/* A write must not wait for the whole driver buffer to drain: with some room free,
 * part of a long queue goes in at once. */
static void test_write_takes_part_while_earlier_data_drains(void)
{
    CHECK(link_init() == ESP_OK);
    g_sent_len = 0;
    static const uint8_t earlier[1] = { 0xAA };
    while (g_used + 1 <= g_capacity - 1024) usb_serial_jtag_write_bytes(earlier, 1, 0);   /* 1 KiB free */
    size_t n = link_write(g_data, 8192);
    CHECK(n > 0);
    CHECK(n <= 1024);
    CHECK(memcmp(g_fifo + (g_capacity - 1024), g_data, n) == 0);
}

/* A queue longer than the driver's whole buffer still goes out, in order. */
static void test_queue_longer_than_driver_buffer_drains(void)
{
    CHECK(link_init() == ESP_OK);
    g_sent_len = 0;
    size_t total = sizeof g_data, done = 0;
    CHECK(total > g_capacity);
    for (int round = 0; round < 100000 && g_sent_len < total; round++) {   /* hang guard */
        if (done < total) done += link_write(g_data + done, total - done);
        usb_packet_out();
    }
    CHECK(done == total);
    CHECK(g_sent_len == total);
    CHECK(memcmp(g_sent, g_data, total) == 0);
}

int main(void)
{
    for (size_t i = 0; i < sizeof g_data; i++) g_data[i] = (uint8_t)(i * 7u + 3u);
    test_write_takes_part_while_earlier_data_drains();
    test_queue_longer_than_driver_buffer_drains();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
