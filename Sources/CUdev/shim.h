#ifndef ESPNOW_CUDEV_SHIM_H
#define ESPNOW_CUDEV_SHIM_H
// libudev (pkg-config libudev, Debian package libudev-dev) for ESPNowDiscovery.
#include <libudev.h>
// eventfd(2), used to wake the monitor and probe threads (not exported by Swift's Glibc module).
#include <sys/eventfd.h>
#endif
