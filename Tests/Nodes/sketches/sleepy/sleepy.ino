// Deep-sleep sketch in the style of the common timer-wake-up tutorials: count
// boots in RTC memory, send the count, sleep 10 s; after the third wake,
// restart instead (ESP.restart) to show that RTC data does not survive that.
#include <esp_now.h>
#include <WiFi.h>

#define uS_TO_S_FACTOR 1000000ULL
#define TIME_TO_SLEEP  10

RTC_DATA_ATTR int bootCount = 0;
uint8_t broadcastAddress[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
volatile bool sent = false;

void OnDataSent(const uint8_t *mac_addr, esp_now_send_status_t status) {
  sent = true;
}

void print_wakeup_reason() {
  esp_sleep_wakeup_cause_t wakeup_reason = esp_sleep_get_wakeup_cause();
  switch (wakeup_reason) {
    case ESP_SLEEP_WAKEUP_TIMER: Serial.println("Wakeup caused by timer"); break;
    default: Serial.printf("Wakeup was not caused by deep sleep: %d\n", wakeup_reason); break;
  }
}

void setup() {
  Serial.begin(115200);
  ++bootCount;
  Serial.println("Boot number: " + String(bootCount));
  print_wakeup_reason();
  if (bootCount > 3) {
    Serial.println("Restarting");
    ESP.restart();
  }
  WiFi.mode(WIFI_STA);
  esp_now_init();
  esp_now_register_send_cb(OnDataSent);
  esp_now_peer_info_t peerInfo = {};
  memcpy(peerInfo.peer_addr, broadcastAddress, 6);
  esp_now_add_peer(&peerInfo);
  esp_now_send(broadcastAddress, (uint8_t *)&bootCount, sizeof(bootCount));
  while (!sent) delay(1);
  esp_sleep_enable_timer_wakeup(TIME_TO_SLEEP * uS_TO_S_FACTOR);
  Serial.println("Going to sleep now at " + String(millis()) + " ms");
  Serial.flush();
  esp_deep_sleep_start();
}

void loop() {
}
