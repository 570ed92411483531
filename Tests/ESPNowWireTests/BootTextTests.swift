import Testing
import ESPNowWire

/// Console text in ESP-IDF's own formats, as a dongle can put it on the link: the ROM's
/// reset banner (always printed, on the UART and on USB-Serial-JTAG), the 2nd stage
/// bootloader and the app's start-up log, the lines `esp_wifi_init` logs, and a panic.
/// The firmware sends none of it after the ROM banner (no console, logs as LOG events),
/// but a board flashed with another configuration, or a panic handler, still can.
enum ESPIDFText {
    static let romBanner = """
        ESP-ROM:esp32c3-api1-20210207\r
        Build:Feb  7 2021\r
        rst:0x15 (USB_UART_CHIP_RESET),boot:0xd (SPI_FAST_FLASH_BOOT)\r
        Saved PC:0x40380f0e\r
        SPIWP:0xee\r
        mode:DIO, clock div:1\r
        load:0x3fcd5820,len:0x1714\r
        load:0x403cc710,len:0x968\r
        load:0x403ce710,len:0x2f9c\r
        entry 0x403cc710\r

        """

    static let bootloader = """
        I (24) boot: ESP-IDF v5.4.4 2nd stage bootloader\r
        I (24) boot: compile time Nov 30 2026 09:41:02\r
        I (24) boot: chip revision: v0.4\r
        I (27) boot: efuse block revision: v1.3\r
        I (31) boot.esp32c3: SPI Speed      : 80MHz\r
        I (35) boot.esp32c3: SPI Mode       : DIO\r
        I (39) boot.esp32c3: SPI Flash Size : 4MB\r
        I (43) boot: Enabling RNG early entropy source...\r
        I (47) boot: Partition Table:\r
        I (50) boot: ## Label            Usage          Type ST Offset   Length\r
        I (56) boot:  0 nvs              WiFi data        01 02 00009000 00006000\r
        I (63) boot:  1 phy_init         RF data          01 01 0000f000 00001000\r
        I (69) boot:  2 factory          factory app      00 00 00010000 00100000\r
        I (76) boot: End of partition table\r
        I (79) esp_image: segment 0: paddr=00010020 vaddr=3c090020 size=1c2c8h (115400) map\r
        I (106) boot: Loaded app from partition at offset 0x10000\r
        I (107) boot: Disabling RNG early entropy source...\r

        """

    /// Start-up and `esp_wifi_init` lines, with LOG_COLORS on (a user's sdkconfig).
    static let app = """
        \u{1B}[0;32mI (118) cpu_start: Unicore app\u{1B}[0m
        \u{1B}[0;32mI (127) cpu_start: Pro cpu start user code\u{1B}[0m
        \u{1B}[0;32mI (127) cpu_start: cpu freq: 160000000 Hz\u{1B}[0m
        \u{1B}[0;32mI (128) app_init: Application information:\u{1B}[0m
        \u{1B}[0;32mI (131) app_init: Project name:     espnow_bridge\u{1B}[0m
        \u{1B}[0;32mI (135) app_init: ESP-IDF:          v5.4.4\u{1B}[0m
        \u{1B}[0;32mI (151) heap_init: At 3FC97A10 len 000445F0 (273 KiB): RAM\u{1B}[0m
        \u{1B}[0;32mI (169) spi_flash: detected chip: generic\u{1B}[0m
        \u{1B}[0;32mI (173) spi_flash: flash io: dio\u{1B}[0m
        \u{1B}[0;32mI (182) main_task: Started on CPU0\u{1B}[0m
        \u{1B}[0;32mI (182) main_task: Calling app_main()\u{1B}[0m
        \u{1B}[0;32mI (205) pp: pp rom version: 9387209\u{1B}[0m
        \u{1B}[0;32mI (205) net80211: net80211 rom version: 9387209\u{1B}[0m
        I (211) wifi:wifi driver task: 3fca3d6c, prio:23, stack:6656, core=0
        I (214) wifi:wifi firmware version: 79fa3f41ba
        I (217) wifi:wifi certification version: v7.0
        I (221) wifi:config NVS flash: enabled
        I (224) wifi:config nano formatting: disabled
        I (228) wifi:Init data frame dynamic rx buffer num: 32
        I (233) wifi:Init static rx mgmt buffer num: 5
        I (237) wifi:Init management short buffer num: 32
        I (241) wifi:Init dynamic tx buffer num: 32
        I (245) wifi:Init static tx FG buffer num: 2
        I (249) wifi:Init static rx buffer size: 1600
        I (253) wifi:Init static rx buffer num: 10
        I (256) wifi:Init dynamic rx buffer num: 32
        \u{1B}[0;32mI (261) wifi_init: rx ba win: 6\u{1B}[0m
        \u{1B}[0;32mI (264) wifi_init: accept mbox: 6\u{1B}[0m
        \u{1B}[0;32mI (268) wifi_init: tcpip mbox: 32\u{1B}[0m
        \u{1B}[0;32mI (272) wifi_init: udp mbox: 6\u{1B}[0m
        \u{1B}[0;32mI (275) wifi_init: tcp mbox: 6\u{1B}[0m
        \u{1B}[0;32mI (279) wifi_init: tcp tx win: 5760\u{1B}[0m
        \u{1B}[0;32mI (283) wifi_init: tcp rx win: 5760\u{1B}[0m
        \u{1B}[0;32mI (287) wifi_init: tcp mss: 1440\u{1B}[0m
        \u{1B}[0;32mI (291) wifi_init: WiFi IRAM OP enabled\u{1B}[0m
        \u{1B}[0;32mI (295) wifi_init: WiFi RX IRAM OP enabled\u{1B}[0m

        """

    static let printfLine = "bridge: free heap 201732\n"

    static let panic = """
        Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was unhandled.\r
        \r
        Core  0 register dump:\r
        MEPC    : 0x4200a1f6  RA      : 0x4200a1ee  SP      : 0x3fc9e8d0  GP      : 0x3fc91e00  \r
        TP      : 0x3fc8e5fc  T0      : 0x40057fa6  T1      : 0x0000000f  T2      : 0x00000000  \r
        MSTATUS : 0x00001881  MTVEC   : 0x40380001  MCAUSE  : 0x00000005  MTVAL   : 0x00000000  \r
        \r
        Stack memory:\r
        3fc9e8d0: 0x00000000 0x00000000 0x00000000 0x4200a1ee 0x00000000 0x00000000 0x3fc9e900 0x4200bd8c\r
        \r
        ELF file SHA256: 9f2c1d0e5b7a3c4d\r
        \r
        Rebooting...\r

        """
}

/// Device frames (responses and events) from the shared vectors.
private func deviceFrames() -> [[UInt8]] {
    Fixtures.vectors.filter { $0.fields.kind == "event" || $0.fields.kind == "response" }.map { $0.wire }
}

@Suite("FrameSplitter with ESP-IDF console text on the link")
struct BootTextTests {
    /// The whole start-up text (longer than the largest frame) in front of the first frame,
    /// then text between frames: every frame arrives, each text block is one counted drop.
    @Test(arguments: [1, 7, 64, 512, 100_000])
    func framesSurviveBootLogAndPanicText(chunk: Int) throws {
        let vs = deviceFrames()
        try #require(vs.count >= 8)
        let fullBoot = Array((ESPIDFText.romBanner + ESPIDFText.bootloader + ESPIDFText.app).utf8)
        #expect(fullBoot.count > WireProtocol.maxEncoded)   // the oversize path is part of it
        let texts: [[UInt8]] = [
            fullBoot,
            Array(ESPIDFText.printfLine.utf8),
            Array(ESPIDFText.app.utf8),
            Array((ESPIDFText.panic + ESPIDFText.romBanner).utf8),
        ]
        var stream: [UInt8] = []
        var textBlocks = 0
        for (i, w) in vs.enumerated() {
            if i % 3 == 0 {
                stream += texts[(i / 3) % texts.count]   // glued to the frame: no 0x00 in between
                textBlocks += 1
            }
            stream += w
        }
        var sp = FrameSplitter(accepting: .fromDevice)
        var out: [Result<Frame, WireError>] = []
        var i = 0
        while i < stream.count {
            let n = min(chunk, stream.count - i)
            out += sp.feed(stream[i..<(i + n)])
            i += n
        }
        #expect(try frames(out) == vs.map { try Frame(wire: $0) })
        #expect(drops(out).count == textBlocks)
        #expect(sp.counters.frames == UInt64(vs.count))
        #expect(sp.counters.dropped == UInt64(textBlocks))
        #expect(sp.pendingCount == 0)
    }

    /// Text that starts right after a frame's delimiter and is still going when the next
    /// frame starts is one region: the text is dropped, the frame behind it recovered.
    @Test func eachWiFiInitLineBetweenTwoFrames() throws {
        let vs = deviceFrames()
        let lines = ESPIDFText.app.split(separator: "\n").map { Array(($0 + "\n").utf8) }
        try #require(lines.count >= 30)
        for line in lines {
            let a = vs[0], b = vs[lines.count % vs.count]
            var sp = FrameSplitter(accepting: .fromDevice)
            let out = sp.feed(a + line + b)
            #expect(try frames(out) == [Frame(wire: a), Frame(wire: b)])
            #expect(drops(out).count == 1 && sp.counters.dropped == 1)
        }
    }
}
