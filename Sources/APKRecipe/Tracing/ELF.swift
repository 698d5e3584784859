import SystemIO
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What an ELF file says about itself: class, byte order, type, machine, interpreter and the
/// dynamic section entries dependency tracing needs. Parsed natively and defensively: every read is
/// bounds-checked against the file size, tables are size-capped, and malformed input gives
/// `ELFError`, never a crash.
public struct ELFFile: Equatable, Sendable {
    public enum ELFClass: Equatable, Sendable { case elf32, elf64 }
    public enum ByteOrder: Equatable, Sendable { case little, big }
    public enum FileType: Equatable, Sendable {
        case relocatable, executable, sharedObject, core, other(UInt16)
        init(_ v: UInt16) {
            switch v {
            case 1: self = .relocatable
            case 2: self = .executable
            case 3: self = .sharedObject
            case 4: self = .core
            default: self = .other(v)
            }
        }
    }

    public var elfClass: ELFClass
    public var byteOrder: ByteOrder
    public var type: FileType
    /// EI_OSABI (255 = ELFOSABI_STANDALONE, which abuild's stripbin leaves alone).
    public var osabi: UInt8 = 0
    /// `e_machine` (EM_*).
    public var machine: UInt16
    /// PT_INTERP, e.g. `/lib/ld-musl-x86_64.so.1`.
    public var interpreter: String?
    /// True when the file has a PT_DYNAMIC segment (or, without program headers, a SHT_DYNAMIC section).
    public var hasDynamicSection: Bool
    public var needed: [String] = []
    public var soname: String?
    public var rpath: [String] = []
    public var runpath: [String] = []
    /// DT_FLAGS_1 (DF_1_PIE = 0x08000000 marks a position-independent executable).
    public var flags1: UInt64 = 0

    /// Statically linked: an executable (or static PIE) with no interpreter and nothing needed.
    public var isStaticallyLinked: Bool {
        guard interpreter == nil, needed.isEmpty else { return false }
        switch type {
        case .executable: return true
        case .sharedObject: return !hasDynamicSection || (flags1 & 0x0800_0000 != 0 && soname == nil)
        default: return false
        }
    }

    /// The Alpine architectures whose binaries use this machine (ARM is both armhf and armv7).
    public var alpineArchitectures: [String] { ELFMachine.alpineArchitectures(machine: machine, elfClass: elfClass, byteOrder: byteOrder) }

    /// Does this file's machine suit packages of Alpine arch `arch`?
    public func matches(alpineArch arch: String) -> Bool { alpineArchitectures.contains(arch) }

    // MARK: Parsing

    /// Limits that keep hostile input from costing memory or time.
    static let maxProgramHeaders = 4096
    static let maxSections = 65536
    static let maxDynamicEntries = 65536
    static let maxStringLength = 4096
    static let maxInterpreterLength = 4096

    /// True when the bytes start with the ELF magic.
    public static func hasMagic(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 4 && prefix[0] == 0x7F && prefix[1] == 0x45 && prefix[2] == 0x4C && prefix[3] == 0x46
    }

    /// Parses ELF bytes held in memory.
    public init(bytes: [UInt8]) throws {
        try self.init(source: ELFArraySource(bytes: bytes))
    }

    public init(data: Data) throws {
        try self.init(bytes: [UInt8](data))
    }

    /// Reads the ELF file at `path` without loading it whole. Returns nil when the file is not ELF
    /// (or not a regular file); throws `ELFError` when it claims to be ELF but is malformed.
    public static func read(path: String) throws -> ELFFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ELFError(path: path, reason: "cannot open: \(currentErrnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let src = ELFFileSource(fd: fd, size: UInt64(st.st_size))
        guard let magic = src.read(0, 4), hasMagic(magic) else { return nil }
        do {
            return try ELFFile(source: src)
        } catch var e as ELFError {
            e.path = path
            throw e
        }
    }

    init(source: ELFByteSource) throws {
        guard let ident = source.read(0, 16) else { throw ELFError(reason: "shorter than an ELF identification") }
        guard ELFFile.hasMagic(ident) else { throw ELFError(reason: "no ELF magic") }
        switch ident[4] {
        case 1: elfClass = .elf32
        case 2: elfClass = .elf64
        default: throw ELFError(reason: "unknown ELF class \(ident[4])")
        }
        switch ident[5] {
        case 1: byteOrder = .little
        case 2: byteOrder = .big
        default: throw ELFError(reason: "unknown ELF data encoding \(ident[5])")
        }
        osabi = ident[7]
        let is64 = elfClass == .elf64
        let ehsize = is64 ? 64 : 52
        guard let eh = source.read(0, ehsize) else { throw ELFError(reason: "truncated ELF header") }
        let r = ELFFieldReader(bytes: eh, little: byteOrder == .little)
        type = FileType(r.u16(16))
        machine = r.u16(18)
        let phoff = is64 ? r.u64(32) : UInt64(r.u32(28))
        let shoff = is64 ? r.u64(40) : UInt64(r.u32(32))
        let phentsize = Int(r.u16(is64 ? 54 : 42))
        var phnum = Int(r.u16(is64 ? 56 : 44))
        let shentsize = Int(r.u16(is64 ? 58 : 46))
        var shnum = Int(r.u16(is64 ? 60 : 48))
        interpreter = nil
        hasDynamicSection = false

        // Extended numbering: real counts live in section header 0.
        if (phnum == 0xFFFF || shnum == 0) && shoff != 0 && shentsize >= (is64 ? 64 : 40) {
            if let sh0 = source.read(shoff, shentsize) {
                let s = ELFFieldReader(bytes: sh0, little: byteOrder == .little)
                if shnum == 0 { shnum = Int(clamping: is64 ? s.u64(32) : UInt64(s.u32(20))) }
                if phnum == 0xFFFF { phnum = Int(s.u32(is64 ? 44 : 28)) }
            }
        }

        // Program headers: PT_LOAD (address mapping), PT_INTERP, PT_DYNAMIC.
        var loads: [(vaddr: UInt64, offset: UInt64, filesz: UInt64)] = []
        var dynamic: (offset: UInt64, size: UInt64)?
        let minPh = is64 ? 56 : 32
        if phoff != 0 && phnum > 0 {
            guard phentsize >= minPh else { throw ELFError(reason: "program header entry size \(phentsize) is too small") }
            guard phnum <= ELFFile.maxProgramHeaders else { throw ELFError(reason: "\(phnum) program headers is more than the limit \(ELFFile.maxProgramHeaders)") }
            for i in 0..<phnum {
                let (off, ovf) = phoff.addingReportingOverflow(UInt64(i * phentsize))
                guard !ovf, let ph = source.read(off, minPh) else { throw ELFError(reason: "program header \(i) lies outside the file") }
                let p = ELFFieldReader(bytes: ph, little: byteOrder == .little)
                let ptype = p.u32(0)
                let offset = is64 ? p.u64(8) : UInt64(p.u32(4))
                let vaddr = is64 ? p.u64(16) : UInt64(p.u32(8))
                let filesz = is64 ? p.u64(32) : UInt64(p.u32(16))
                switch ptype {
                case 1: loads.append((vaddr, offset, filesz))
                case 2: dynamic = (offset, filesz)
                case 3:
                    let len = Int(min(filesz, UInt64(ELFFile.maxInterpreterLength)))
                    guard let b = source.read(offset, len) else { throw ELFError(reason: "PT_INTERP lies outside the file") }
                    interpreter = String(decoding: b.prefix { $0 != 0 }, as: UTF8.self)
                default: break
                }
            }
        }

        // No PT_DYNAMIC (e.g. a relocatable object or a file without program headers): look for
        // a SHT_DYNAMIC section whose sh_link names its string table section.
        var strtabFromSection: (offset: UInt64, size: UInt64)?
        if dynamic == nil && phnum == 0 && shoff != 0 && shnum > 0 {
            let minSh = is64 ? 64 : 40
            guard shentsize >= minSh else { throw ELFError(reason: "section header entry size \(shentsize) is too small") }
            guard shnum <= ELFFile.maxSections else { throw ELFError(reason: "\(shnum) sections is more than the limit") }
            func section(_ i: Int) -> (type: UInt32, offset: UInt64, size: UInt64, link: Int)? {
                let (off, ovf) = shoff.addingReportingOverflow(UInt64(i) &* UInt64(shentsize))
                guard !ovf, let b = source.read(off, minSh) else { return nil }
                let s = ELFFieldReader(bytes: b, little: byteOrder == .little)
                return (s.u32(4), is64 ? s.u64(24) : UInt64(s.u32(16)), is64 ? s.u64(32) : UInt64(s.u32(20)),
                        Int(s.u32(is64 ? 40 : 24)))
            }
            for i in 0..<shnum {
                guard let s = section(i) else { throw ELFError(reason: "section header \(i) lies outside the file") }
                if s.type == 6 {
                    dynamic = (s.offset, s.size)
                    if s.link < shnum, let l = section(s.link) { strtabFromSection = (l.offset, l.size) }
                    break
                }
            }
        }

        guard let dyn = dynamic else { return }
        hasDynamicSection = true
        let entsize = is64 ? 16 : 8
        let count = Int(min(dyn.size / UInt64(entsize), UInt64(ELFFile.maxDynamicEntries)))
        var neededOffsets: [UInt64] = []
        var sonameOffset: UInt64?, rpathOffsets: [UInt64] = [], runpathOffsets: [UInt64] = []
        var strtabAddr: UInt64?, strsz: UInt64?
        for i in 0..<count {
            let (off, ovf) = dyn.offset.addingReportingOverflow(UInt64(i * entsize))
            guard !ovf, let b = source.read(off, entsize) else { throw ELFError(reason: "dynamic entry \(i) lies outside the file") }
            let d = ELFFieldReader(bytes: b, little: byteOrder == .little)
            let tag = is64 ? d.u64(0) : UInt64(d.u32(0))
            let val = is64 ? d.u64(8) : UInt64(d.u32(4))
            switch tag {
            case 0: break // DT_NULL
            case 1: neededOffsets.append(val)
            case 5: strtabAddr = val
            case 10: strsz = val
            case 14: sonameOffset = val
            case 15: rpathOffsets.append(val)
            case 29: runpathOffsets.append(val)
            case 0x6FFF_FFFB: flags1 = val
            default: break
            }
            if tag == 0 { break }
        }

        // Where the dynamic string table is in the file.
        var strtab: (offset: UInt64, size: UInt64)?
        if let s = strtabFromSection {
            strtab = s
        } else if let addr = strtabAddr {
            for l in loads where addr >= l.vaddr && addr - l.vaddr < l.filesz {
                let off = l.offset &+ (addr - l.vaddr)
                let avail = l.filesz - (addr - l.vaddr)
                strtab = (off, min(strsz ?? avail, avail))
                break
            }
            if strtab == nil && loads.isEmpty { strtab = (addr, strsz ?? UInt64(ELFFile.maxStringLength)) }
        }
        let hasStrings = !(neededOffsets.isEmpty && sonameOffset == nil && rpathOffsets.isEmpty && runpathOffsets.isEmpty)
        guard let table = strtab else {
            if hasStrings { throw ELFError(reason: "dynamic string table (DT_STRTAB) is not inside any loaded segment") }
            return
        }
        func string(_ o: UInt64) throws -> String {
            guard o < table.size else { throw ELFError(reason: "dynamic string offset \(o) is past the string table") }
            let start = table.offset &+ o
            let limit = Int(min(table.size - o, UInt64(ELFFile.maxStringLength)))
            let avail = source.size > start ? Int(min(UInt64(limit), source.size - start)) : 0
            guard avail > 0, let b = source.read(start, avail) else { throw ELFError(reason: "dynamic string lies outside the file") }
            guard let end = b.firstIndex(of: 0) else { throw ELFError(reason: "dynamic string at \(o) is not terminated") }
            return String(decoding: b[..<end], as: UTF8.self)
        }
        needed = try neededOffsets.map(string)
        soname = try sonameOffset.map(string)
        rpath = try rpathOffsets.flatMap { try string($0).split(separator: ":").map(String.init) }
        runpath = try runpathOffsets.flatMap { try string($0).split(separator: ":").map(String.init) }
    }
}

/// A malformed ELF file.
public struct ELFError: Error, CustomStringConvertible, Equatable {
    public var path: String?
    public var reason: String
    public init(path: String? = nil, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path ?? "ELF file"): malformed ELF: \(reason)" }
}

/// ELF machine numbers and their Alpine architecture names.
public enum ELFMachine {
    public static let x86: UInt16 = 3, mips: UInt16 = 8, ppc: UInt16 = 20, ppc64: UInt16 = 21, s390: UInt16 = 22,
                      arm: UInt16 = 40, x86_64: UInt16 = 62, aarch64: UInt16 = 183, riscv: UInt16 = 243,
                      loongarch: UInt16 = 258

    /// Alpine arches for a machine; `[]` when Alpine has no such arch.
    public static func alpineArchitectures(machine: UInt16, elfClass: ELFFile.ELFClass, byteOrder: ELFFile.ByteOrder) -> [String] {
        switch (machine, elfClass, byteOrder) {
        case (x86, .elf32, .little): return ["x86"]
        case (x86_64, .elf64, .little): return ["x86_64"]
        case (aarch64, .elf64, .little): return ["aarch64"]
        case (arm, .elf32, .little): return ["armhf", "armv7"]
        case (ppc64, .elf64, .little): return ["ppc64le"]
        case (s390, .elf64, .big): return ["s390x"]
        case (riscv, .elf64, .little): return ["riscv64"]
        case (loongarch, .elf64, .little): return ["loongarch64"]
        default: return []
        }
    }

    /// A readable name for messages, e.g. `x86-64 (EM 62)`.
    public static func describe(_ f: ELFFile) -> String {
        let names: [UInt16: String] = [x86: "i386", mips: "MIPS", ppc: "PowerPC", ppc64: "PowerPC64", s390: "S/390",
                                       arm: "ARM", x86_64: "x86-64", aarch64: "AArch64", riscv: "RISC-V", loongarch: "LoongArch"]
        let bits = f.elfClass == .elf64 ? "64-bit" : "32-bit"
        let order = f.byteOrder == .little ? "LE" : "BE"
        return "\(names[f.machine] ?? "machine \(f.machine)") \(bits) \(order)"
    }
}

// MARK: - Bounded byte access

protocol ELFByteSource {
    var size: UInt64 { get }
    /// Exactly `count` bytes at `offset`, or nil when that range is not inside the source.
    func read(_ offset: UInt64, _ count: Int) -> [UInt8]?
}

struct ELFArraySource: ELFByteSource {
    let bytes: [UInt8]
    var size: UInt64 { UInt64(bytes.count) }
    func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else { return nil }
        return Array(bytes[Int(offset)..<Int(offset) + count])
    }
}

struct ELFFileSource: ELFByteSource {
    let fd: Int32
    let size: UInt64
    func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset, offset <= UInt64(Int64.max) else { return nil }
        if count == 0 { return [] }
        var buf = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buf.withUnsafeMutableBytes { p in
                pread(fd, p.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            done += n
        }
        return buf
    }
}

struct ELFFieldReader {
    let bytes: [UInt8]
    let little: Bool
    func u16(_ o: Int) -> UInt16 {
        let a = UInt16(bytes[o]), b = UInt16(bytes[o + 1])
        return little ? a | b << 8 : a << 8 | b
    }
    func u32(_ o: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[o + i]) << (little ? 8 * i : 8 * (3 - i)) }
        return v
    }
    func u64(_ o: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[o + i]) << (little ? 8 * i : 8 * (7 - i)) }
        return v
    }
}
