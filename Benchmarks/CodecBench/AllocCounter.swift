// Allocation accounting for the bench.
//
// 1. Counting: every Swift heap allocation ends in libswiftCore's swift_slowAlloc, which calls
//    malloc / calloc / realloc / posix_memalign through libswiftCore's PLT. The bench rewrites
//    those GOT slots of libswiftCore (found from its ELF dynamic section) to counting functions
//    that forward to glibc, so every allocation made by Swift code — classes, array / dictionary
//    / string storage, boxes, closure contexts, UnsafeMutablePointer.allocate — is counted.
//    (Interposing malloc in the executable does not work: SwiftPM does not export it, and the
//    runtime's own _swift_allocObject hook mishandles tagged values once enabled.)
// 2. glibc `mallinfo2().uordblks` (bytes in use) before and after a loop, a coarser proxy (it
//    only sees what is still allocated at the end).
#if canImport(Glibc)
import Glibc
#endif

typealias MallocFn = @convention(c) (Int) -> UnsafeMutableRawPointer?
typealias CallocFn = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?
typealias ReallocFn = @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer?
typealias MemalignFn = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int, Int) -> CInt

nonisolated(unsafe) private var realMalloc: MallocFn?
nonisolated(unsafe) private var realCalloc: CallocFn?
nonisolated(unsafe) private var realRealloc: ReallocFn?
nonisolated(unsafe) private var realMemalign: MemalignFn?
/// Allocation calls made by Swift code since the counter was installed.
nonisolated(unsafe) var heapAllocationCalls = 0
/// Bytes those calls requested.
nonisolated(unsafe) var heapAllocationBytes = 0

private let countingMalloc: MallocFn = { n in
    heapAllocationCalls &+= 1
    heapAllocationBytes &+= n
    return realMalloc!(n)
}
private let countingCalloc: CallocFn = { n, s in
    heapAllocationCalls &+= 1
    heapAllocationBytes &+= n &* s
    return realCalloc!(n, s)
}
private let countingRealloc: ReallocFn = { p, n in
    heapAllocationCalls &+= 1
    heapAllocationBytes &+= n
    return realRealloc!(p, n)
}
private let countingMemalign: MemalignFn = { out, a, n in
    heapAllocationCalls &+= 1
    heapAllocationBytes &+= n
    return realMemalign!(out, a, n)
}

/// Points libswiftCore's malloc-family GOT slots at the counting functions.
/// Returns the number of slots patched (0: counting unavailable).
func installAllocationCounter() -> Int {
    #if os(Linux) && arch(x86_64) || os(Linux) && arch(arm64)
    guard let m = dlsym(nil, "malloc"), let c = dlsym(nil, "calloc"), let r = dlsym(nil, "realloc"),
          let pm = dlsym(nil, "posix_memalign"), let anchor = dlsym(nil, "swift_slowAlloc") else { return 0 }  // anchor: libswiftCore is loaded
    realMalloc = unsafeBitCast(m, to: MallocFn.self)
    realCalloc = unsafeBitCast(c, to: CallocFn.self)
    realRealloc = unsafeBitCast(r, to: ReallocFn.self)
    realMemalign = unsafeBitCast(pm, to: MemalignFn.self)
    _ = anchor
    guard let base = loadAddress(ofLibraryNamed: "libswiftCore.so") else { return 0 }
    let bias = UInt(bitPattern: base)
    // Elf64_Ehdr: e_phoff @32, e_phentsize @54, e_phnum @56. Elf64_Phdr: p_type @0, p_vaddr @16.
    let phoff = Int(base.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
    let phentsize = Int(base.loadUnaligned(fromByteOffset: 54, as: UInt16.self))
    let phnum = Int(base.loadUnaligned(fromByteOffset: 56, as: UInt16.self))
    var dynamic: UnsafeRawPointer?
    for i in 0..<phnum {
        let offset: Int = phoff + i * phentsize
        let ph = base + offset
        if ph.loadUnaligned(as: UInt32.self) == 2 {  // PT_DYNAMIC
            dynamic = base + Int(ph.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        }
    }
    guard var dyn = dynamic else { return 0 }
    // glibc relocates d_ptr entries in place; accept both absolute and base-relative values.
    func addr(_ v: UInt64) -> UnsafeRawPointer {
        UnsafeRawPointer(bitPattern: UInt(v) >= bias ? UInt(v) : bias + UInt(v))!
    }
    var strtab: UnsafeRawPointer?, symtab: UnsafeRawPointer?
    var tables: [(UnsafeRawPointer, Int)] = []  // (Elf64_Rela array, byte size)
    var jmprel: UInt64 = 0, pltrelsz = 0, rela: UInt64 = 0, relasz = 0
    while true {
        let tag = dyn.loadUnaligned(as: Int64.self)
        let val = dyn.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        if tag == 0 { break }
        switch tag {
        case 5: strtab = addr(val)          // DT_STRTAB
        case 6: symtab = addr(val)          // DT_SYMTAB
        case 23: jmprel = val               // DT_JMPREL
        case 2: pltrelsz = Int(val)         // DT_PLTRELSZ
        case 7: rela = val                  // DT_RELA
        case 8: relasz = Int(val)           // DT_RELASZ
        default: break
        }
        dyn += 16
    }
    guard let strs = strtab, let syms = symtab else { return 0 }
    if jmprel != 0 { tables.append((addr(jmprel), pltrelsz)) }
    if rela != 0 { tables.append((addr(rela), relasz)) }
    let replacements: [String: UnsafeRawPointer] = [
        "malloc": unsafeBitCast(countingMalloc, to: UnsafeRawPointer.self),
        "calloc": unsafeBitCast(countingCalloc, to: UnsafeRawPointer.self),
        "realloc": unsafeBitCast(countingRealloc, to: UnsafeRawPointer.self),
        "posix_memalign": unsafeBitCast(countingMemalign, to: UnsafeRawPointer.self),
    ]
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    var patched = 0
    for (table, size) in tables {
        for k in 0..<(size / 24) {  // Elf64_Rela: r_offset, r_info, r_addend
            let rel = table + k * 24
            let info = rel.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let symIndex = Int(info >> 32)
            guard symIndex != 0 else { continue }
            let nameOff = Int((syms + symIndex * 24).loadUnaligned(as: UInt32.self))  // Elf64_Sym.st_name
            let name = String(cString: (strs + nameOff).assumingMemoryBound(to: CChar.self))
            guard let fn = replacements[name] else { continue }
            let slot = UnsafeMutableRawPointer(mutating: base + Int(rel.loadUnaligned(as: UInt64.self)))
            let pageStart = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: slot) & ~UInt(page - 1))!
            guard mprotect(pageStart, page * 2, PROT_READ | PROT_WRITE) == 0 else { continue }
            slot.storeBytes(of: fn, as: UnsafeRawPointer.self)
            patched += 1
        }
    }
    return patched
    #else
    return 0
    #endif
}

/// Load address (ELF header) of a shared library, from /proc/self/maps.
func loadAddress(ofLibraryNamed name: String) -> UnsafeRawPointer? {
    let fd = open("/proc/self/maps", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        data += chunk[0..<n]
    }
    // "start-end perms offset dev inode path"
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let cols = line.split(separator: " ", omittingEmptySubsequences: true)
        guard cols.count >= 6, cols[5].hasSuffix("/" + name), UInt64(cols[2], radix: 16) == 0,
              let start = cols[0].split(separator: "-").first, let a = UInt(start, radix: 16) else { continue }
        return UnsafeRawPointer(bitPattern: a)
    }
    return nil
}

/// glibc's `mallinfo2().uordblks` (bytes in use), or nil where it cannot be read.
/// mallinfo2 is not exposed by the Glibc module, so it is looked up with dlsym and called with
/// the x86-64 System V convention for a returned struct larger than 16 bytes (the caller passes
/// the result buffer in rdi, which is exactly a C function taking one pointer argument).
func mallinfoInUseBytes() -> Int? {
    #if os(Linux) && arch(x86_64)
    typealias Fn = @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer?
    guard let sym = dlsym(nil, "mallinfo2") else { return nil }
    let f = unsafeBitCast(sym, to: Fn.self)
    // struct mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; }
    var info = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return withUnsafeMutableBytes(of: &info) { b in
        _ = f(b.baseAddress!)
        return b.load(fromByteOffset: 7 * MemoryLayout<Int>.size, as: Int.self)
    }
    #else
    return nil
    #endif
}
