/* Test stand-in: the firmware's main/ built for the USB-Serial-JTAG transport. */
#pragma once
#define CONFIG_BRIDGE_TRANSPORT_USB_SERIAL_JTAG 1
