/* Node runtime: memory placement attributes. Code and data placement has no
 * meaning on the host, except RTC memory, which the runtime keeps across deep
 * sleep (RTC_DATA_ATTR, RTC_RODATA_ATTR, RTC_BSS_ATTR) and also across
 * software resets (RTC_NOINIT_ATTR), as the chip does. */
#ifndef NODE_ESP_ATTR_H
#define NODE_ESP_ATTR_H

#define IRAM_ATTR
#define DRAM_ATTR
#define IRAM_DATA_ATTR
#define IRAM_BSS_ATTR
#define FLASH_ATTR
#define EXT_RAM_BSS_ATTR
#define EXT_RAM_NOINIT_ATTR
#define NOINIT_ATTR
#define RTC_IRAM_ATTR
#define RTC_FAST_ATTR __attribute__((section("rtc_data"), used))
#define RTC_SLOW_ATTR __attribute__((section("rtc_data"), used))
#define RTC_DATA_ATTR __attribute__((section("rtc_data"), used))
#define RTC_RODATA_ATTR __attribute__((section("rtc_data"), used))
#define RTC_BSS_ATTR __attribute__((section("rtc_data"), used))
#define RTC_NOINIT_ATTR __attribute__((section("rtc_noinit"), used))
#define WORD_ALIGNED_ATTR __attribute__((aligned(4)))
#define DMA_ATTR WORD_ALIGNED_ATTR
#define IRAM_ATTR_ALIGN
#define FORCE_INLINE_ATTR static inline __attribute__((always_inline))
#define NOINLINE_ATTR __attribute__((noinline))

#endif
