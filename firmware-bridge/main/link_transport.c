/* Host link drivers. Each keeps the data path free of sleeps: reads block in
 * the driver until bytes arrive, writes never wait for the host to read. */
#include "link_transport.h"

#include "sdkconfig.h"

#if CONFIG_BRIDGE_TRANSPORT_USB_SERIAL_JTAG
#include "driver/usb_serial_jtag.h"

/* usb_serial_jtag_write_bytes() is all-or-nothing: it queues the whole buffer or
 * nothing (the driver's ring buffer takes an item only when all of it fits). So the
 * core's queue is handed over in chunks small enough to fit while earlier ones are
 * still going out: a chunk waits for at most its own size of free space, never for
 * the whole driver buffer to drain. */
#define USJ_TX_CHUNK 512u
#define USJ_TX_BUFFER 4096u
#define USJ_RX_BUFFER 4096u
_Static_assert(USJ_TX_CHUNK * 4u <= USJ_TX_BUFFER,
               "the driver buffer must hold several chunks so a new one fits while others drain");
_Static_assert(USJ_TX_CHUNK >= 64u, "a chunk fills at least one USB full-speed packet");

esp_err_t link_init(void)
{
    usb_serial_jtag_driver_config_t cfg = { .rx_buffer_size = USJ_RX_BUFFER, .tx_buffer_size = USJ_TX_BUFFER };
    return usb_serial_jtag_driver_install(&cfg);
}

size_t link_read(uint8_t *buf, size_t cap, TickType_t wait)
{
    int n = usb_serial_jtag_read_bytes(buf, cap, wait);
    return n > 0 ? (size_t)n : 0;
}

size_t link_write(const uint8_t *data, size_t len)
{
    /* 0 ticks: one chunk or nothing; the core offers the rest again when polled. */
    size_t chunk = len < USJ_TX_CHUNK ? len : USJ_TX_CHUNK;
    int n = usb_serial_jtag_write_bytes(data, chunk, 0);
    return n > 0 ? (size_t)n : 0;
}

esp_err_t link_set_baud(uint32_t baud) { (void)baud; return ESP_ERR_NOT_SUPPORTED; }
uint8_t link_transport_id(void) { return 0; }
uint32_t link_baud(void) { return 0; }

#elif CONFIG_BRIDGE_TRANSPORT_TINYUSB_CDC
#include "freertos/stream_buffer.h"
#include "tinyusb.h"
#include "tusb_cdc_acm.h"

static StreamBufferHandle_t s_rx;

static void on_rx(int itf, cdcacm_event_t *event)
{
    (void)event;
    uint8_t buf[CONFIG_TINYUSB_CDC_RX_BUFSIZE];
    size_t n = 0;
    if (tinyusb_cdcacm_read(itf, buf, sizeof buf, &n) == ESP_OK && n > 0) {
        /* The stream buffer is sized for several USB packets; a full one means the
         * core stalled, and the host's retransmission recovers the request. */
        xStreamBufferSend(s_rx, buf, n, 0);
    }
}

esp_err_t link_init(void)
{
    s_rx = xStreamBufferCreate(4096, 1);
    if (s_rx == NULL) return ESP_ERR_NO_MEM;
    const tinyusb_config_t tusb_cfg = { 0 };
    esp_err_t e = tinyusb_driver_install(&tusb_cfg);
    if (e != ESP_OK) return e;
    tinyusb_config_cdcacm_t acm = {
        .usb_dev = TINYUSB_USBDEV_0,
        .cdc_port = TINYUSB_CDC_ACM_0,
        .rx_unread_buf_sz = 64,
        .callback_rx = on_rx,
    };
    return tusb_cdc_acm_init(&acm);
}

size_t link_read(uint8_t *buf, size_t cap, TickType_t wait)
{
    return xStreamBufferReceive(s_rx, buf, cap, wait);
}

size_t link_write(const uint8_t *data, size_t len)
{
    size_t n = tinyusb_cdcacm_write_queue(TINYUSB_CDC_ACM_0, data, len);
    tinyusb_cdcacm_write_flush(TINYUSB_CDC_ACM_0, 0);
    return n;
}

esp_err_t link_set_baud(uint32_t baud) { (void)baud; return ESP_ERR_NOT_SUPPORTED; }
uint8_t link_transport_id(void) { return 1; }
uint32_t link_baud(void) { return 0; }

#else /* UART */
#include "driver/uart.h"
#include "soc/soc_caps.h"

/* UART ports the application can drive: the high-power ones (an LP UART, where the
 * chip has one, is counted in SOC_UART_NUM but is not a uart_port_t for this driver). */
#if defined(SOC_UART_HP_NUM)
#define BRIDGE_UART_PORTS SOC_UART_HP_NUM
#else
#define BRIDGE_UART_PORTS SOC_UART_NUM
#endif
_Static_assert(CONFIG_BRIDGE_UART_NUM < BRIDGE_UART_PORTS, "CONFIG_BRIDGE_UART_NUM: this chip has no such UART");

static uint32_t s_baud = CONFIG_BRIDGE_UART_BAUD;

esp_err_t link_init(void)
{
    uart_config_t cfg = {
        .baud_rate = CONFIG_BRIDGE_UART_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    esp_err_t e = uart_driver_install(CONFIG_BRIDGE_UART_NUM, 4096, 8192, 0, NULL, 0);
    if (e == ESP_OK) e = uart_param_config(CONFIG_BRIDGE_UART_NUM, &cfg);
    if (e == ESP_OK) {
        e = uart_set_pin(CONFIG_BRIDGE_UART_NUM, CONFIG_BRIDGE_UART_TX_PIN, CONFIG_BRIDGE_UART_RX_PIN,
                         UART_PIN_NO_CHANGE, UART_PIN_NO_CHANGE);
    }
    return e;
}

size_t link_read(uint8_t *buf, size_t cap, TickType_t wait)
{
    int n = uart_read_bytes(CONFIG_BRIDGE_UART_NUM, buf, 1, wait);
    if (n <= 0) return 0;
    /* Then take whatever else already arrived, without waiting. */
    int more = uart_read_bytes(CONFIG_BRIDGE_UART_NUM, buf + 1, cap - 1, 0);
    return (size_t)n + (more > 0 ? (size_t)more : 0);
}

size_t link_write(const uint8_t *data, size_t len)
{
    /* The 8 KiB driver ring buffer absorbs bursts; when it is full this waits for the
     * UART itself (the line rate), never for the radio. */
    int n = uart_write_bytes(CONFIG_BRIDGE_UART_NUM, data, len);
    return n > 0 ? (size_t)n : 0;
}

esp_err_t link_set_baud(uint32_t baud)
{
    uart_wait_tx_done(CONFIG_BRIDGE_UART_NUM, pdMS_TO_TICKS(100));
    esp_err_t e = uart_set_baudrate(CONFIG_BRIDGE_UART_NUM, baud);
    if (e == ESP_OK) s_baud = baud;
    return e;
}

uint8_t link_transport_id(void) { return 2; }
uint32_t link_baud(void) { return s_baud; }
#endif
