/* The host link: one of USB-Serial-JTAG, TinyUSB CDC-ACM or UART (Kconfig). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"
#include "freertos/FreeRTOS.h"

/* Installs the driver; received bytes are read by link_read. */
esp_err_t link_init(void);
/* Blocks up to `wait` for at least one byte; returns the count (0 on timeout). */
size_t link_read(uint8_t *buf, size_t cap, TickType_t wait);
/* Takes a prefix of data without waiting for the host and returns its length, 0 when
 * there is no room (USB-Serial-JTAG: one bounded chunk or nothing; UART: waits for
 * room in the driver's ring buffer only). */
size_t link_write(const uint8_t *data, size_t len);
/* UART only; ESP_ERR_NOT_SUPPORTED on USB transports. */
esp_err_t link_set_baud(uint32_t baud);
/* Facts for HELLO. */
uint8_t link_transport_id(void);
uint32_t link_baud(void);
