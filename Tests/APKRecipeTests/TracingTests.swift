import XCTest
import Synchronization
import Foundation
@testable import APKRecipe
import APKFormat
import TestSupport

/// Builds an ELF file by hand: header, PT_LOAD covering the file, optional PT_INTERP, PT_DYNAMIC
/// with DT_NEEDED/DT_SONAME/DT_RUNPATH/DT_STRTAB/DT_STRSZ.
func craftELF(is64: Bool, little: Bool, machine: UInt16, type: UInt16 = 3, interp: String? = nil,
              needed: [String] = [], soname: String? = nil, runpath: String? = nil) -> [UInt8] {
    var out: [UInt8] = []
    func put(_ v: UInt64, _ n: Int) {
        for i in 0..<n { out.append(UInt8((v >> (8 * UInt64(little ? i : n - 1 - i))) & 0xFF)) }
    }
    let word = is64 ? 8 : 4
    let ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32
    let phnum = interp == nil ? 2 : 3
    let base: UInt64 = 0x10000
    // String table.
    var strtab: [UInt8] = [0]
    func addString(_ s: String) -> UInt64 { let o = UInt64(strtab.count); strtab += Array(s.utf8) + [0]; return o }
    let neededOffs = needed.map(addString)
    let sonameOff = soname.map(addString)
    let runpathOff = runpath.map(addString)
    let interpBytes: [UInt8] = interp.map { Array($0.utf8) + [0] } ?? []
    let interpOff = ehsize + phnum * phentsize
    let strtabOff = interpOff + interpBytes.count
    let dynOff = (strtabOff + strtab.count + 7) & ~7
    var dyn: [(UInt64, UInt64)] = neededOffs.map { (1, $0) }
    if let s = sonameOff { dyn.append((14, s)) }
    if let r = runpathOff { dyn.append((29, r)) }
    dyn += [(5, base + UInt64(strtabOff)), (10, UInt64(strtab.count)), (0, 0)]
    let dynSize = dyn.count * 2 * word
    let total = dynOff + dynSize
    // ELF header.
    out += [0x7F, 0x45, 0x4C, 0x46, is64 ? 2 : 1, little ? 1 : 2, 1, 0] + [UInt8](repeating: 0, count: 8)
    put(UInt64(type), 2); put(UInt64(machine), 2); put(1, 4)
    put(0, word) // entry
    put(UInt64(ehsize), word) // phoff
    put(0, word) // shoff
    put(0, 4) // flags
    put(UInt64(ehsize), 2); put(UInt64(phentsize), 2); put(UInt64(phnum), 2)
    put(is64 ? 64 : 40, 2); put(0, 2); put(0, 2)
    func phdr(_ type: UInt32, _ off: Int, _ size: Int) {
        let vaddr = base + UInt64(off)
        if is64 {
            put(UInt64(type), 4); put(4, 4); put(UInt64(off), 8); put(vaddr, 8); put(vaddr, 8)
            put(UInt64(size), 8); put(UInt64(size), 8); put(8, 8)
        } else {
            put(UInt64(type), 4); put(UInt64(off), 4); put(vaddr, 4); put(vaddr, 4)
            put(UInt64(size), 4); put(UInt64(size), 4); put(4, 4); put(4, 4)
        }
    }
    phdr(1, 0, total)
    if interp != nil { phdr(3, interpOff, interpBytes.count) }
    phdr(2, dynOff, dynSize)
    out += interpBytes + strtab
    while out.count < dynOff { out.append(0) }
    for (t, v) in dyn { put(t, word); put(v, word) }
    return out
}

final class TracingTests: XCTestCase {
    // MARK: helpers

    func gcc(_ args: [String], cwd: String, compiler: String = "gcc") throws {
        let r = try runProcess(compiler, args, cwd: cwd)
        XCTAssertEqual(r.status, 0, "\(compiler) \(args.joined(separator: " ")): \(r.stderr)")
    }

    /// A shared library libfoo.so.1.2.3 (soname libfoo.so.1) and a program linked against it.
    func buildLibAndProgram(in dir: TempDir) throws {
        dir.write("foo.c", "int foo(void) { return 42; }\n")
        dir.write("main.c", "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n")
        try gcc(["-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", "-o", "libfoo.so.1.2.3", "foo.c"], cwd: dir.path)
        symlink("libfoo.so.1.2.3", dir.sub("libfoo.so"))
        try gcc(["-o", "prog", "main.c", "-L.", "-lfoo", "-Wl,-rpath,$ORIGIN/../lib/foo"], cwd: dir.path)
    }

    func readelfDynamic(_ path: String) throws -> (needed: [String], soname: String?, runpath: [String]) {
        let out = try runProcess("readelf", ["-dW", path]).stdout
        func values(_ tag: String) -> [String] {
            out.split(separator: "\n").filter { $0.contains("(\(tag))") }.compactMap { line -> String? in
                guard let a = line.firstIndex(of: "["), let b = line.lastIndex(of: "]") else { return nil }
                return String(line[line.index(after: a)..<b])
            }
        }
        return (values("NEEDED"), values("SONAME").first, values("RUNPATH").flatMap { $0.split(separator: ":").map(String.init) })
    }

    // MARK: ELF parsing

    func testParsesGCCBuiltSharedLibraryAndExecutable() throws {
        let d = TempDir("trace-gcc")
        try buildLibAndProgram(in: d)
        let lib = try XCTUnwrap(ELFFile.read(path: d.sub("libfoo.so.1.2.3")))
        XCTAssertEqual(lib.soname, "libfoo.so.1")
        XCTAssertEqual(lib.type, .sharedObject)
        XCTAssertNil(lib.interpreter)
        XCTAssertFalse(lib.isStaticallyLinked)
        let prog = try XCTUnwrap(ELFFile.read(path: d.sub("prog")))
        XCTAssertTrue(prog.needed.contains("libfoo.so.1"))
        XCTAssertTrue(prog.needed.contains("libc.so.6"))
        XCTAssertEqual(prog.runpath + prog.rpath, ["$ORIGIN/../lib/foo"])
        XCTAssertNotNil(prog.interpreter)
        XCTAssertTrue(prog.interpreter!.contains("ld-linux"), prog.interpreter!)
        XCTAssertFalse(prog.isStaticallyLinked)
        // Independent check with binutils' readelf.
        for (name, f) in [("libfoo.so.1.2.3", lib), ("prog", prog)] {
            let r = try readelfDynamic(d.sub(name))
            XCTAssertEqual(f.needed, r.needed, name)
            XCTAssertEqual(f.soname, r.soname, name)
            XCTAssertEqual(f.runpath, r.runpath, name)
        }
        let interp = try runProcess("readelf", ["-lW", d.sub("prog")]).stdout
        XCTAssertTrue(interp.contains("[Requesting program interpreter: \(prog.interpreter!)]"))
        #if arch(x86_64)
        XCTAssertEqual(prog.machine, ELFMachine.x86_64)
        XCTAssertEqual(prog.alpineArchitectures, ["x86_64"])
        XCTAssertEqual(prog.elfClass, .elf64)
        XCTAssertEqual(prog.byteOrder, .little)
        #endif
        // Not ELF: nil, not an error.
        d.write("text", "#!/bin/sh\necho hi\n")
        XCTAssertNil(try ELFFile.read(path: d.sub("text")))
        XCTAssertNil(try ELFFile.read(path: d.path))
    }

    func testStaticExecutables() throws {
        let d = TempDir("trace-static")
        d.write("s.c", "int main(void) { return 0; }\n")
        let r = try runProcess("gcc", ["-static", "-o", "s", "s.c"], cwd: d.path)
        try XCTSkipIf(r.status != 0, "no static glibc on this host: \(r.stderr)")
        let s = try XCTUnwrap(ELFFile.read(path: d.sub("s")))
        XCTAssertTrue(s.isStaticallyLinked)
        XCTAssertNil(s.interpreter)
        XCTAssertEqual(s.needed, [])
        let pie = try runProcess("gcc", ["-static-pie", "-o", "spie", "s.c"], cwd: d.path)
        if pie.status == 0 {
            let p = try XCTUnwrap(ELFFile.read(path: d.sub("spie")))
            XCTAssertEqual(p.type, .sharedObject)
            XCTAssertTrue(p.hasDynamicSection)
            XCTAssertTrue(p.isStaticallyLinked, "static-pie")
        }
    }

    func testHandCraftedHeadersAllClassesAndByteOrders() throws {
        let d = TempDir("trace-craft")
        let cases: [(Bool, Bool, UInt16, [String])] = [
            (false, true, ELFMachine.x86, ["x86"]), (false, true, ELFMachine.arm, ["armhf", "armv7"]),
            (true, false, ELFMachine.s390, ["s390x"]), (true, true, ELFMachine.ppc64, ["ppc64le"]),
            (true, false, ELFMachine.ppc64, []), (false, false, ELFMachine.ppc, []),
            (true, true, ELFMachine.riscv, ["riscv64"]), (true, true, ELFMachine.loongarch, ["loongarch64"]),
            (true, true, ELFMachine.aarch64, ["aarch64"]), (false, true, ELFMachine.x86_64, []), // x32
        ]
        for (is64, little, machine, arches) in cases {
            let bytes = craftELF(is64: is64, little: little, machine: machine, type: 2, interp: "/lib/ld-musl-test.so.1",
                                 needed: ["libz.so.1", "libc.musl-x.so.1"], soname: "libself.so.2", runpath: "/opt/a:/opt/b")
            let f = try ELFFile(bytes: bytes)
            let label = "\(is64 ? 64 : 32)-bit \(little ? "LE" : "BE") machine \(machine)"
            XCTAssertEqual(f.elfClass, is64 ? .elf64 : .elf32, label)
            XCTAssertEqual(f.byteOrder, little ? .little : .big, label)
            XCTAssertEqual(f.machine, machine, label)
            XCTAssertEqual(f.type, .executable, label)
            XCTAssertEqual(f.interpreter, "/lib/ld-musl-test.so.1", label)
            XCTAssertEqual(f.needed, ["libz.so.1", "libc.musl-x.so.1"], label)
            XCTAssertEqual(f.soname, "libself.so.2", label)
            XCTAssertEqual(f.runpath, ["/opt/a", "/opt/b"], label)
            XCTAssertEqual(f.alpineArchitectures, arches, label)
            // readelf agrees on the crafted bytes.
            let p = d.write("f\(machine)-\(is64)-\(little)", Data(bytes))
            let r = try readelfDynamic(p)
            XCTAssertEqual(r.needed, f.needed, label)
            XCTAssertEqual(r.soname, f.soname, label)
            XCTAssertEqual(r.runpath, f.runpath, label)
            let h = try runProcess("readelf", ["-hW", p]).stdout
            XCTAssertTrue(h.contains(is64 ? "ELF64" : "ELF32"), label)
            XCTAssertTrue(h.contains(little ? "little endian" : "big endian"), label)
        }
    }

    /// Truncated, corrupted and random inputs never crash: they parse or throw ELFError.
    func testHostileInputNeverCrashes() throws {
        let d = TempDir("trace-hostile")
        try buildLibAndProgram(in: d)
        let real = [UInt8](try Data(contentsOf: URL(fileURLWithPath: d.sub("prog"))))
        let crafted = craftELF(is64: false, little: false, machine: ELFMachine.ppc, interp: "/x", needed: ["a"], soname: "b")
        var parsed = 0, rejected = 0
        func attempt(_ b: [UInt8]) {
            do { _ = try ELFFile(bytes: b); parsed += 1 } catch is ELFError { rejected += 1 } catch { XCTFail("unexpected \(error)") }
        }
        for src in [real, crafted] {
            // Every truncation of the headers region, and sampled truncations beyond.
            for n in 0..<min(src.count, 600) { attempt(Array(src.prefix(n))) }
            for n in stride(from: 600, to: src.count, by: 97) { attempt(Array(src.prefix(n))) }
        }
        var rng = SystemRandomNumberGenerator()
        for i in 0..<3000 {
            var b = i % 2 == 0 ? crafted : Array(real.prefix(8192))
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let pos = Int.random(in: 0..<min(b.count, 256), using: &rng)
                b[pos] = UInt8.random(in: 0...255, using: &rng)
            }
            attempt(b)
        }
        for _ in 0..<500 {
            var b = [UInt8](repeating: 0, count: Int.random(in: 0..<200, using: &rng))
            for j in b.indices { b[j] = UInt8.random(in: 0...255, using: &rng) }
            if b.count >= 6 { b[0] = 0x7F; b[1] = 0x45; b[2] = 0x4C; b[3] = 0x46; b[4] = UInt8.random(in: 1...2); b[5] = UInt8.random(in: 1...2) }
            attempt(b)
        }
        XCTAssertGreaterThan(rejected, 0)
        XCTAssertGreaterThan(parsed, 0)
        // Specific hostile headers: huge counts and offsets are rejected, not allocated.
        var big = crafted
        big[44] = 0xFF; big[45] = 0xFE // e_phnum (BE) = 65534
        XCTAssertThrowsError(try ELFFile(bytes: big))
        var far = craftELF(is64: true, little: true, machine: 62, needed: ["x"])
        for k in 32..<40 { far[k] = 0xFF } // e_phoff = 2^64-1
        XCTAssertThrowsError(try ELFFile(bytes: far))
        // A truncated file on disk through the file reader.
        let p = d.write("trunc", Data(real.prefix(100)))
        XCTAssertThrowsError(try ELFFile.read(path: p)) { e in
            XCTAssertTrue("\(e)".hasPrefix(p + ": malformed ELF: "), "\(e)")
        }
    }

    // MARK: tracing

    /// A package with a library, a program, commands and a .pc file.
    func makePackage(_ d: TempDir, build: TempDir) throws {
        d.mkdir("usr/lib")
        try FileManager.default.copyItem(atPath: build.sub("libfoo.so.1.2.3"), toPath: d.sub("usr/lib/libfoo.so.1.2.3"))
        symlink("libfoo.so.1.2.3", d.sub("usr/lib/libfoo.so.1"))
        d.mkdir("usr/bin")
        try FileManager.default.copyItem(atPath: build.sub("prog"), toPath: d.sub("usr/bin/prog"))
        d.write("usr/bin/script", "#!/bin/sh\n", mode: 0o755)
        d.write("usr/bin/only-group-x", "x", mode: 0o610)
        d.write("usr/bin/notexec", "x", mode: 0o644)
        d.write("usr/bin/.hidden", "x", mode: 0o755)
        d.write("usr/bin/a@b", "x", mode: 0o755)
        d.mkdir("usr/bin/subdir")
        symlink("prog", d.sub("usr/bin/link"))
        symlink("/nonexistent/target", d.sub("usr/bin/dangling"))
        d.write("bin/busy", "x", mode: 0o700)
        d.write("usr/local/bin/local", "x", mode: 0o755)
        d.write("usr/libexec/helper", "x", mode: 0o755)
        d.write("usr/lib/pkgconfig/foo.pc", """
            prefix=/usr
            # a comment
            ver=1.2.3-beta2
            Name: Foo
            Description: foo library
            Version: v${ver}
            Provides: foo-compat = 1.0
            Requires: glib-2.0 >= 2.50, zlib
            Requires.private: foo-compat, libffi >= 3.4.rc1
            Libs: -L${prefix}/lib -lfoo

            """)
    }

    func testTraceSinglePackage() throws {
        let build = TempDir("trace-build"), pkg = TempDir("trace-pkg")
        try buildLibAndProgram(in: build)
        try makePackage(pkg, build: build)
        let r = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64")
        XCTAssertEqual(r.autoProvides, [
            "cmd:busy=1.0-r2", "cmd:dangling=1.0-r2", "cmd:link=1.0-r2", "cmd:only-group-x=1.0-r2", "cmd:prog=1.0-r2",
            "cmd:script=1.0-r2", "pc:foo-compat=1.0", "pc:foo=1.2.3_beta2", "so:libfoo.so.1=1.2.3",
        ])
        XCTAssertEqual(r.autoDepends, ["pc:glib-2.0>=2.50", "pc:libffi>=3.4_rc1", "pc:zlib", "pkgconfig", "so:libc.so.6"])
        XCTAssertEqual(r.externalSonames, ["libc.so.6"])
        XCTAssertEqual(r.externalPkgConfig, ["glib-2.0>=2.50", "libffi>=3.4_rc1", "zlib"])
        // $ORIGIN is substituted, not normalised (abuild does the same with awk)
        XCTAssertEqual(r.rpaths, ["/usr/bin/../lib/foo"])

        // Rendered into .PKGINFO after "# automatically detected:", provides first.
        var info = PackageInfo(name: "foo", version: "1.0-r2")
        info.autoProvides = r.autoProvides
        info.autoDepends = r.autoDepends
        let text = PKGINFO(info: info).render()
        let tail = text.components(separatedBy: "# automatically detected:\n")[1]
        XCTAssertTrue(tail.hasPrefix("provides = cmd:busy=1.0-r2\n"))
        XCTAssertTrue(tail.contains("provides = so:libfoo.so.1=1.2.3\ndepend = pc:glib-2.0>=2.50\n"))

        // pkgconfig already an explicit dependency: not added again.
        let r2 = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64",
                                            explicitDepends: ["pkgconfig>=1"])
        XCTAssertFalse(r2.autoDepends.contains("pkgconfig"))
    }

    /// Tracing after the writer read the files (`PackageSpec.completeInfo`): the writers' survey
    /// (v2 data tar and v3 hashing) marks exactly the ELF files, the trace from it is the trace from
    /// the tree, and files the survey calls non-ELF are not opened (a survey hiding the library
    /// loses its soname, which proves the tracer believed it).
    func testTraceFromTheWritersSurvey() throws {
        let build = TempDir("survey-build"), pkg = TempDir("survey-pkg")
        try buildLibAndProgram(in: build)
        try makePackage(pkg, build: build)
        let direct = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64")
        for format in FormatName.allCases {
            let seen = Mutex<ContentSurvey?>(nil)
            var info = PackageInfo(name: "foo", version: "1.0-r2")
            info.arch = "x86_64"
            var spec = PackageSpec(info: info, root: pkg.url)
            spec.completeInfo = { _, survey in seen.withLock { $0 = survey } }
            let out = TempDir("survey-out")
            _ = try PackageWriter(format: PackageFormats.named(format), signer: RecipeKeys.signer, compression: .default)
                .write(spec, to: out.sub("foo.apk"))
            let survey = try XCTUnwrap(seen.withLock { $0 }, "\(format): completeInfo was not called")
            let elf = survey.startsWithELF.filter(\.value).keys.sorted()
            XCTAssertTrue(elf.contains("usr/lib/libfoo.so.1.2.3"), "\(format): \(elf)")
            XCTAssertTrue(elf.contains("usr/bin/prog"), "\(format): \(elf)")
            for path in elf {
                let head = try XCTUnwrap(FileHandle(forReadingAtPath: pkg.sub(path))).readData(ofLength: 4)
                XCTAssertEqual(Array(head), [0x7f, 0x45, 0x4c, 0x46], "\(format): \(path)")
            }
            XCTAssertTrue(survey.startsWithELF.contains { !$0.value }, "\(format): non-ELF files are recorded too")
            let traced = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64",
                                                    survey: survey)
            XCTAssertEqual(traced.autoProvides, direct.autoProvides, "\(format)")
            XCTAssertEqual(traced.autoDepends, direct.autoDepends, "\(format)")
        }
        var hiding = ContentSurvey()
        hiding.startsWithELF["usr/lib/libfoo.so.1.2.3"] = false
        let hidden = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64",
                                                survey: hiding)
        XCTAssertFalse(hidden.autoProvides.contains("so:libfoo.so.1=1.2.3"), "\(hidden.autoProvides)")
        XCTAssertTrue(direct.autoProvides.contains("so:libfoo.so.1=1.2.3"))
    }

    /// A tree of many files has its ELF headers read on all cores (TraceTree.prefetchELF):
    /// the result is the same as one thread's, ELF files spread among 600 others included.
    func testManyFilesTraceAsFewDo() throws {
        let build = TempDir("trace-build"), pkg = TempDir("trace-pkg")
        try buildLibAndProgram(in: build)
        try makePackage(pkg, build: build)
        let few = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64")
        for i in 0..<600 { pkg.write("usr/share/foo/\(i / 100)/f\(i)", "data \(i)\n") }
        try FileManager.default.copyItem(atPath: build.sub("prog"), toPath: pkg.sub("usr/share/foo/3/prog-copy"))
        let many = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1.0-r2", arch: "x86_64")
        XCTAssertEqual(many.autoProvides, few.autoProvides)
        XCTAssertEqual(many.autoDepends, few.autoDepends)
        // The copy among the filler files is found: its $ORIGIN rpath is there.
        XCTAssertEqual(many.rpaths, ["/usr/bin/../lib/foo", "/usr/share/foo/3/../lib/foo"])
    }

    /// The .pc parser agrees with the host's pkgconf on provides and requires.
    func testPkgConfigAgreesWithPkgconf() throws {
        let pkg = TempDir("trace-pc")
        pkg.write("usr/lib/pkgconfig/foo.pc", """
            prefix=/usr
            abi=2.0
            Name: Foo
            Description: d
            Version: ${abi}.7
            Provides: foo-compat = 1.0, other = 3
            Requires: glib-${abi} >= 2.50, zlib,libbar  libbaz < 1.0
            Requires.private: libqux = 3.0 , m
            """)
        let stubs = TempDir("trace-pc-stubs")
        for n in ["glib-2.0", "zlib", "libbar", "libbaz", "libqux", "m"] {
            stubs.write("\(n).pc", "Name: \(n)\nDescription: s\nVersion: \(n == "libbaz" ? "0.5" : n == "libqux" ? "3.0" : "9")\n")
        }
        let file = pkg.sub("usr/lib/pkgconfig/foo.pc")
        let env = ["PKG_CONFIG_PATH": stubs.path]
        let prov = try runProcess("pkgconf", ["--print-provides", file], environment: env)
        try XCTSkipIf(prov.status != 0, "pkgconf failed: \(prov.stderr)")
        let req = try runProcess("pkgconf", ["--print-requires", "--print-requires-private", file], environment: env)
        XCTAssertEqual(req.status, 0, req.stderr)
        let pc = try PkgConfigFile(path: file)
        func show(_ d: PkgConfigFile.Dependency) -> String { d.op == nil ? d.name : "\(d.name) \(d.op!) \(d.version!)" }
        XCTAssertEqual(Set((pc.provides.map(show) + ["\(pc.module) = \(pc.version!)"])),
                       Set(prov.stdout.split(separator: "\n").map(String.init)))
        XCTAssertEqual((pc.requires + pc.requiresPrivate).map(show), req.stdout.split(separator: "\n").map(String.init))
    }

    func testPkgConfigVersionSanitising() {
        let table: [(String, String?)] = [
            ("1.2.3", "1.2.3"), ("v1.2", "1.2"), ("", "0"), ("1.0-alpha3", "1.0_alpha3"), ("1.0.beta", "1.0_beta"),
            ("2.0-rc1", "2.0_rc1"), ("2.0.pre2", "2.0_pre2"), ("1.0-alpha1-alpha2", nil), ("1.0-beta1.rc2", "1.0_beta1_rc2"),
            ("1.0_rc1", "1.0_rc1"), ("1.0-r1", "1.0-r1"), ("1.0-git", nil), ("vv1", nil), ("1.0~ab", "1.0~ab"), ("1.0 ", nil),
        ]
        for (pcv, want) in table {
            XCTAssertEqual(PkgConfigFile.apkVersion(fromPkgConfig: pcv), want, pcv)
        }
    }

    func testInvalidPkgConfigVersionIsAnError() throws {
        let pkg = TempDir("trace-badpc")
        pkg.write("usr/share/pkgconfig/bad.pc", "Name: bad\nDescription: d\nVersion: 1.0 final\n")
        XCTAssertThrowsError(try DependencyTracer.trace(root: pkg.url, packageName: "bad", fullVersion: "1-r0", arch: "noarch")) { e in
            XCTAssertTrue("\(e)".hasPrefix("usr/share/pkgconfig/bad.pc: pkgconf version '1.0 final'"), "\(e)")
        }
        let noVersion = TempDir("trace-nover")
        noVersion.write("usr/lib/pkgconfig/x.pc", "Name: x\nDescription: d\n")
        XCTAssertThrowsError(try DependencyTracer.trace(root: noVersion.url, packageName: "x", fullVersion: "1-r0", arch: "noarch"))
    }

    func testSubpackagesAndSymlinkDepends() throws {
        let build = TempDir("trace-build2")
        try buildLibAndProgram(in: build)
        let main = TempDir("trace-main"), libs = TempDir("trace-libs"), dev = TempDir("trace-dev")
        main.mkdir("usr/bin")
        try FileManager.default.copyItem(atPath: build.sub("prog"), toPath: main.sub("usr/bin/prog"))
        libs.mkdir("usr/lib")
        try FileManager.default.copyItem(atPath: build.sub("libfoo.so.1.2.3"), toPath: libs.sub("usr/lib/libfoo.so.1.2.3"))
        symlink("libfoo.so.1.2.3", libs.sub("usr/lib/libfoo.so.1"))
        dev.mkdir("usr/lib")
        symlink("libfoo.so.1.2.3", dev.sub("usr/lib/libfoo.so"))       // into foo-libs
        symlink("/usr/bin/prog", dev.sub("usr/lib/prog-link"))          // into foo
        symlink("../../nowhere", dev.sub("usr/lib/broken"))             // into no package
        dev.write("usr/lib/pkgconfig/foo.pc", "Name: foo\nDescription: d\nVersion: 1.0\nRequires: foo-extra\n")
        libs.write("usr/share/pkgconfig/foo-extra.pc", "Name: foo-extra\nDescription: d\nVersion: 1.0\n")

        let pkgs = [
            TracePackage(name: "foo", root: main.url, arch: "x86_64"),
            TracePackage(name: "foo-libs", root: libs.url, arch: "x86_64"),
            TracePackage(name: "foo-dev", root: dev.url, arch: "x86_64"),
        ]
        let rs = try DependencyTracer.traceAll(pkgs, fullVersion: "2.0-r1")
        XCTAssertEqual(rs[0].autoProvides, ["cmd:prog=2.0-r1"])
        XCTAssertEqual(rs[0].autoDepends, ["so:libc.so.6", "so:libfoo.so.1"])
        XCTAssertEqual(rs[0].externalSonames, ["libc.so.6"])
        XCTAssertEqual(rs[1].autoProvides, ["pc:foo-extra=1.0", "so:libfoo.so.1=1.2.3"])
        // the library uses nothing from libc, so gcc records no DT_NEEDED for it
        XCTAssertEqual(rs[1].autoDepends, ["pkgconfig"])
        XCTAssertEqual(rs[2].autoProvides, ["pc:foo=1.0"])
        XCTAssertEqual(rs[2].autoDepends, ["foo-libs=2.0-r1", "foo=2.0-r1", "pc:foo-extra", "pkgconfig"])
        XCTAssertEqual(rs[2].externalPkgConfig, [])

        // The single-package API with siblings gives the same answer.
        let one = try DependencyTracer.trace(root: dev.url, packageName: "foo-dev", fullVersion: "2.0-r1", arch: "x86_64",
                                             siblings: [SiblingPackage(name: "foo", root: main.url), SiblingPackage(name: "foo-libs", root: libs.url)])
        XCTAssertEqual(one, rs[2])
    }

    func testMuslBinariesMapToAlpineLibc() throws {
        let d = TempDir("trace-musl"), pkg = TempDir("trace-musl-pkg")
        // Hand-crafted: interpreter ld-musl, needed libc.so (musl's upstream soname) and ld-musl itself.
        pkg.write("usr/bin/crafted", Data(craftELF(is64: true, little: true, machine: 183, type: 2,
                                                  interp: "/lib/ld-musl-aarch64.so.1", needed: ["libc.so", "ld-musl-aarch64.so.1", "libz.so.1"])), mode: 0o755)
        var r = try DependencyTracer.trace(root: pkg.url, packageName: "m", fullVersion: "1-r0", arch: "aarch64")
        XCTAssertEqual(r.autoDepends, ["so:libc.musl-aarch64.so.1", "so:libz.so.1"])
        // A real musl-gcc binary, when the host has musl-gcc.
        d.write("m.c", "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
        let cc = try runProcess("musl-gcc", ["-o", "m", "m.c"], cwd: d.path)
        try XCTSkipIf(cc.status != 0, "musl-gcc not usable: \(cc.stderr)")
        let elf = try XCTUnwrap(ELFFile.read(path: d.sub("m")))
        if elf.isStaticallyLinked { return } // some musl-gcc setups link statically by default
        XCTAssertTrue(elf.interpreter?.contains("ld-musl") ?? false, "\(String(describing: elf.interpreter))")
        try FileManager.default.copyItem(atPath: d.sub("m"), toPath: pkg.sub("usr/bin/m"))
        r = try DependencyTracer.trace(root: pkg.url, packageName: "m", fullVersion: "1-r0", arch: "x86_64")
        XCTAssertTrue(r.autoDepends.contains("so:libc.musl-x86_64.so.1"), "\(r.autoDepends)")
        XCTAssertFalse(try ELFLint.check(root: pkg.url, arch: "x86_64").contains { $0.path == "usr/bin/m" })
    }

    func testPythonProvidesAndDepends() throws {
        let pkg = TempDir("trace-py")
        pkg.write("usr/lib/python3.12/site-packages/foo/__init__.py", "")
        pkg.write("usr/lib/python3.12/site-packages/bar.py", "")
        pkg.write("usr/lib/python3.12/site-packages/baz.txt", "")
        pkg.mkdir("usr/lib/python3.12/site-packages/notapkg")
        pkg.write("usr/lib/python3.12/site-packages/_priv.py", "")
        let r = try DependencyTracer.trace(root: pkg.url, packageName: "py3-foo", fullVersion: "0.1-r0", arch: "noarch")
        XCTAssertEqual(r.autoProvides, ["py3.12:_priv=0.1-r0", "py3.12:bar=0.1-r0", "py3.12:foo=0.1-r0"])
        XCTAssertEqual(r.autoDepends, ["python3~3.12"])
        let own = try DependencyTracer.trace(root: pkg.url, packageName: "python3", fullVersion: "3.12.1-r0", arch: "noarch")
        XCTAssertEqual(own.autoDepends, [])
        pkg.mkdir("usr/lib/python3.11/site-packages")
        XCTAssertThrowsError(try DependencyTracer.trace(root: pkg.url, packageName: "py3-foo", fullVersion: "0.1-r0", arch: "noarch"))
    }

    func testOptionsAndNoarch() throws {
        let build = TempDir("trace-build3"), pkg = TempDir("trace-opt")
        try buildLibAndProgram(in: build)
        try makePackage(pkg, build: build)
        // noarch: no ELF scanning at all.
        var r = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1-r0", arch: "noarch")
        XCTAssertFalse(r.autoProvides.contains { $0.hasPrefix("so:") })
        XCTAssertFalse(r.autoDepends.contains { $0.hasPrefix("so:") })
        // !tracedeps: nothing but the pkgconfig rule.
        var o = TraceOptions()
        o.traceDeps = false
        r = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1-r0", arch: "x86_64", options: o)
        XCTAssertEqual(r.autoProvides, [])
        XCTAssertEqual(r.autoDepends, ["pkgconfig"])
        // somask and prefixes.
        o = TraceOptions()
        o.somask = ["libc.so.6"]
        o.sonamePrefix = "foo:"
        o.pcPrefix = "foo:"
        r = try DependencyTracer.trace(root: pkg.url, packageName: "foo", fullVersion: "1-r0", arch: "x86_64", options: o)
        XCTAssertTrue(r.autoProvides.contains("so:foo:libfoo.so.1=1.2.3"), "\(r.autoProvides)")
        XCTAssertTrue(r.autoProvides.contains("pc:foo:foo=1.2.3_beta2"), "\(r.autoProvides)")
        XCTAssertFalse(r.autoDepends.contains { $0.hasPrefix("so:") }, "\(r.autoDepends)")
        // An unversioned .so whose file name has no version gets version 0; an invalid file-name version is an error.
        let lib = TempDir("trace-sover")
        lib.mkdir("usr/lib")
        try FileManager.default.copyItem(atPath: build.sub("libfoo.so.1.2.3"), toPath: lib.sub("usr/lib/libbar.so"))
        r = try DependencyTracer.trace(root: lib.url, packageName: "bar", fullVersion: "1-r0", arch: "x86_64")
        XCTAssertEqual(r.autoProvides, ["so:libfoo.so.1=0"])
        var nc = TraceOptions()
        nc.soverNamecheck = true
        r = try DependencyTracer.trace(root: lib.url, packageName: "bar", fullVersion: "1-r0", arch: "x86_64", options: nc)
        XCTAssertEqual(r.autoProvides, [])
        try FileManager.default.copyItem(atPath: build.sub("libfoo.so.1.2.3"), toPath: lib.sub("usr/lib/libbad.so.1.x"))
        XCTAssertThrowsError(try DependencyTracer.trace(root: lib.url, packageName: "bar", fullVersion: "1-r0", arch: "x86_64")) { e in
            XCTAssertTrue("\(e)".hasPrefix("usr/lib/libbad.so.1.x: library version '1.x'"), "\(e)")
        }
    }

    func testScriptDepends() {
        let sh = Data("#!/bin/sh\nexit 0\n".utf8)
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: sh], explicitDepends: []), ["/bin/sh"])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.trigger: Data("#! /bin/sh -e\n".utf8)], explicitDepends: ["foo"]), ["/bin/sh"])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.preInstall: Data("#!\t/bin/sh".utf8)], explicitDepends: []), ["/bin/sh"])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: Data("#!/bin/bash\n".utf8)], explicitDepends: []), [])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: Data("\n#!/bin/sh\n".utf8)], explicitDepends: []), [])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: Data("#!/usr/bin/env sh\n".utf8)], explicitDepends: []), [])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [:], explicitDepends: []), [])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: sh], explicitDepends: ["busybox>=1.36"]), [])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: sh], explicitDepends: ["/bin/sh"]), [])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: sh], explicitDepends: ["!busybox"]), ["/bin/sh"])
        XCTAssertEqual(DependencyTracer.scriptDepends(scripts: [.postInstall: sh], explicitDepends: [], originName: "busybox"), [])
    }

    func testELFLint() throws {
        let build = TempDir("trace-build4"), pkg = TempDir("trace-lint")
        try buildLibAndProgram(in: build)
        pkg.mkdir("usr/bin")
        try FileManager.default.copyItem(atPath: build.sub("prog"), toPath: pkg.sub("usr/bin/prog"))
        pkg.write("usr/bin/script", "#!/bin/sh\n", mode: 0o755)
        pkg.write("lib/firmware/dsp.elf", Data(craftELF(is64: false, little: false, machine: 8)))
        pkg.write("usr/lib/libarm.so", Data(craftELF(is64: false, little: true, machine: ELFMachine.arm, needed: ["libc.musl-armv7.so.1"])))
        pkg.write("usr/bin/truncated", Data([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]))
        #if arch(x86_64)
        let host = "x86_64"
        #elseif arch(arm64)
        let host = "aarch64"
        #else
        throw XCTSkip("host arch not mapped in this test")
        #endif
        var f = try ELFLint.check(root: pkg.url, arch: host)
        let glibc = f.filter { $0.path == "usr/bin/prog" }
        XCTAssertEqual(glibc.count, 1)
        XCTAssertEqual(glibc.first?.severity, .warning)
        XCTAssertEqual(glibc.first?.fix, "Alpine has musl: link statically, target musl, or depend on gcompat")
        XCTAssertTrue(glibc.first?.message.contains("libc.so.6") ?? false)
        XCTAssertEqual(f.filter { $0.path == "usr/lib/libarm.so" }.map(\.severity), [.error])
        XCTAssertEqual(f.filter { $0.path == "usr/bin/truncated" }.map(\.severity), [.warning])
        XCTAssertTrue(f.filter { $0.path == "lib/firmware/dsp.elf" || $0.path == "usr/bin/script" }.isEmpty)
        // armv7 package: the ARM library fits, the host binary does not.
        f = try ELFLint.check(root: pkg.url, arch: "armv7")
        XCTAssertTrue(f.filter { $0.path == "usr/lib/libarm.so" }.isEmpty)
        XCTAssertEqual(f.filter { $0.path == "usr/bin/prog" }.map(\.severity).sorted { $0.rawValue < $1.rawValue }, [.error, .warning])
        // noarch with ELF files: errors, firmware included.
        f = try ELFLint.check(root: pkg.url, arch: "noarch")
        XCTAssertEqual(Set(f.filter { $0.severity == .error }.map(\.path)), ["usr/bin/prog", "usr/lib/libarm.so", "lib/firmware/dsp.elf"])
    }
}
