// ESPNowDevice and ESPNowDiscovery both have a `DeviceEvent`, and the module ESPNowDevice has
// a class of the same name (so `ESPNowDevice.DeviceEvent` does not name the module's type):
// this file imports only the device client, to name its event type unambiguously.
import ESPNowDevice

typealias ClientEvent = DeviceEvent
