import APKFormat
@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

/// An Alpine-like install without apk: a chroot with static busybox (Alpine's userland), the
/// package's `.pre-install` run there, the data tar extracted with owners resolved against the
/// chroot's /etc/passwd (as apk does), `.post-install` run, then the app started.
/// Needs root and a static busybox; skipped otherwise.
final class InstallSimulationTests: XCTestCase {
    static let installer = """
    import io, os, subprocess, sys, tarfile, zlib
    root, apks = sys.argv[1], sys.argv[2:]

    def members(data):
        pos, out = 0, []
        while pos < len(data):
            d = zlib.decompressobj(31)
            raw = d.decompress(data[pos:]) + d.flush()
            pos += len(data) - pos - len(d.unused_data)
            out.append(raw)
        return out

    def ids(path):
        m = {}
        for line in open(os.path.join(root, path)):
            f = line.strip().split(':')
            if len(f) >= 3: m[f[0]] = int(f[2])
        return m

    def run_script(control, name):
        if name not in control: return
        p = os.path.join(root, 'tmp', name)
        open(p, 'wb').write(control[name]); os.chmod(p, 0o755)
        r = subprocess.run(['chroot', root, '/tmp/' + name], capture_output=True)
        sys.stdout.write(r.stdout.decode())
        if r.returncode != 0:
            sys.exit('%s failed: %s' % (name, r.stderr.decode()))

    for apk in apks:
        ms = members(open(apk, 'rb').read())
        ct = tarfile.open(fileobj=io.BytesIO(ms[1] + b'\\0' * 1024))
        control = {m.name: ct.extractfile(m).read() for m in ct.getmembers() if m.isfile()}
        run_script(control, '.pre-install')
        users, groups = ids('etc/passwd'), ids('etc/group')
        dt = tarfile.open(fileobj=io.BytesIO(ms[2]))
        for m in dt.getmembers():
            dst = os.path.join(root, m.name)
            if m.isdir():
                os.makedirs(dst, exist_ok=True)
            elif m.issym():
                if os.path.lexists(dst): os.unlink(dst)
                os.symlink(m.linkname, dst)
            elif m.isfile():
                open(dst, 'wb').write(dt.extractfile(m).read())
            if m.uname not in users or m.gname not in groups:
                sys.exit('%s: owner %s:%s unknown in the root' % (m.name, m.uname, m.gname))
            os.lchown(dst, users[m.uname], groups[m.gname])
            if not m.issym(): os.chmod(dst, m.mode)
        run_script(control, '.post-install')
    """

    static let addgroup = """
    #!/bin/sh
    # busybox addgroup [-S] [-g GID] GROUP
    sys=0; gid=
    while getopts Sg: o; do case $o in S) sys=1;; g) gid=$OPTARG;; *) exit 2;; esac; done
    shift $((OPTIND-1))
    [ $# -eq 1 ] || { echo "addgroup: usage: addgroup [-S] [-g GID] GROUP" >&2; exit 2; }
    if grep -q "^$1:" /etc/group; then echo "addgroup: group '$1' in use" >&2; exit 1; fi
    if [ -z "$gid" ]; then
        gid=100
        while cut -d: -f3 /etc/group | grep -qx "$gid"; do gid=$((gid+1)); done
    fi
    echo "$1:x:$gid:" >> /etc/group

    """
    static let adduser = """
    #!/bin/sh
    # busybox adduser [-h DIR] [-g GECOS] [-s SHELL] [-G GRP] [-S] [-D] [-H] [-u UID] [-k SKEL] USER
    home=; gecos=; shell=/bin/sh; grp=; uid=; nohome=0
    while getopts h:g:s:G:SDHu:k: o; do
        case $o in h) home=$OPTARG;; g) gecos=$OPTARG;; s) shell=$OPTARG;; G) grp=$OPTARG;; u) uid=$OPTARG;;
        S|D|k) ;; H) nohome=1;; *) exit 2;; esac
    done
    shift $((OPTIND-1))
    [ $# -eq 1 ] || { echo "adduser: usage" >&2; exit 2; }
    if grep -q "^$1:" /etc/passwd; then echo "adduser: user '$1' in use" >&2; exit 1; fi
    [ -n "$home" ] || home=/home/$1
    gid=$(grep "^$grp:" /etc/group | cut -d: -f3)
    [ -n "$gid" ] || { echo "adduser: unknown group $grp" >&2; exit 1; }
    if [ -z "$uid" ]; then
        uid=100
        while cut -d: -f3 /etc/passwd | grep -qx "$uid"; do uid=$((uid+1)); done
    fi
    echo "$1:x:$uid:$gid:$gecos:$home:$shell" >> /etc/passwd
    echo "$1:!::0:::::" >> /etc/shadow

    """
    static let setuidgid = """
    #!/bin/sh
    # s6-setuidgid USER PROG ARGS... (through busybox su)
    u=$1; shift
    cmd=""
    for a in "$@"; do cmd="$cmd '$(printf %s "$a" | sed "s/'/'\\\\\\\\''/g")'"; done
    exec su -p -s /bin/sh -c "exec $cmd" "$u"

    """

    func makeRoot() throws -> TempDir {
        guard getuid() == 0 else { throw XCTSkip("needs root for chroot") }
        guard let bb = ["/bin/busybox", "/usr/bin/busybox"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("needs a static busybox (Debian: apt-get install busybox-static)")
        }
        let root = TempDir("alpine-root")
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "var/lib", "var/log", "home", "proc", "dev"] { root.mkdir(d) }
        XCTAssertEqual(try runProcess("mknod", ["-m", "666", root.sub("dev/null"), "c", "1", "3"]).status, 0)
        XCTAssertEqual(try runProcess("cp", [bb, root.sub("bin/busybox")]).status, 0)
        guard try runProcess("chroot", [root.path, "/bin/busybox", "true"]).status == 0 else {
            throw XCTSkip("busybox is not static or chroot is not allowed here (Debian: apt-get install busybox-static)")
        }
        let inst = try runProcess("chroot", [root.path, "/bin/busybox", "--install", "-s"])
        XCTAssertEqual(inst.status, 0, inst.stderr)
        root.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
        root.write("etc/group", "root:x:0:root\nnobody:x:65534:\n")
        root.write("etc/shadow", "root:*::0:::::\n", mode: 0o600)
        // Debian's static busybox lacks adduser/addgroup and s6 is not here: small stand-ins that
        // accept exactly the options of Alpine's busybox applets and refuse anything else.
        root.write("usr/sbin/addgroup", Self.addgroup, mode: 0o755)
        root.write("usr/sbin/adduser", Self.adduser, mode: 0o755)
        root.write("usr/bin/s6-setuidgid", Self.setuidgid, mode: 0o755)
        return root
    }

    func install(_ apks: [String], into root: TempDir) throws -> String {
        let r = try runPython(Self.installer, [root.path] + apks)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout
    }

    func inRoot(_ root: TempDir, _ args: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try runProcess("chroot", [root.path] + args, environment: environment)
    }

    func testHelloServiceInstallsAndRuns() throws {
        let root = try makeRoot()
        let (_t, dir) = try copyFixture("hello-svc")
        _ = _t
        let recipe = try RecipeLoader.load(file: dir + "/apkit.yml")
        var options = RecipeBuilder.Options(outputDirectory: dir + "/packages")
        options.architectures = ["x86_64"]
        let built = try RecipeBuilder(recipe: recipe, options: options, writer: PackageWriter(format: V2Format(), signer: RecipeKeys.signer, compression: .default),
                                      warn: { _ in }).run()
        let out = try install(built.map(\.path), into: root)
        XCTAssertTrue(out.contains("hello-svc installed"), out)

        // The user and group exist, with apk-style system ids, home and no login.
        let passwd = try String(contentsOfFile: root.sub("etc/passwd"), encoding: .utf8)
        let line = try XCTUnwrap(passwd.split(separator: "\n").first { $0.hasPrefix("hello-svc:") })
        let f = line.split(separator: ":", omittingEmptySubsequences: false)
        XCTAssertEqual(f[5], "/var/lib/hello-svc")
        XCTAssertEqual(f[6], "/sbin/nologin")
        XCTAssertLessThan(Int(f[2]) ?? 0, 1000, "a system user")
        XCTAssertEqual(try inRoot(root, ["stat", "-c", "%U:%G", "/var/lib/hello-svc", "/var/lib/hello-svc/bin/hello-svc"]).stdout,
                       "hello-svc:hello-svc\nhello-svc:hello-svc\n")
        XCTAssertEqual(try inRoot(root, ["stat", "-c", "%U", "/var/lib/hello-svc/service/run"]).stdout, "root\n")

        // The app runs: directly, through env-exec (environment from /etc/hello-svc/environment),
        // through the init script's command, and as the s6 service (as its user).
        XCTAssertEqual(try inRoot(root, ["/usr/bin/hello-svc", "greet", "Alpine"]).stdout, "Hello, Alpine!\n")
        root.write("etc/hello-svc/environment", "GREETING=Howdy\nINTERVAL=1\n", mode: 0o640)
        XCTAssertEqual(try inRoot(root, ["/var/lib/hello-svc/bin/env-exec", "--", "/var/lib/hello-svc/bin/hello-svc", "greet"]).stdout,
                       "Howdy, world!\n")
        XCTAssertEqual(try inRoot(root, ["/var/lib/hello-svc/bin/env-exec", "bin/hello-svc greet \"two words\""]).stdout,
                       "Howdy, two words!\n", "one argument is a command line (PAKman's env-exec)")
        let initd = try String(contentsOfFile: root.sub("etc/init.d/hello-svc"), encoding: .utf8)
        let fn = initd.components(separatedBy: "greet() {")[1].components(separatedBy: "\n}")[0]
        let cmd = try inRoot(root, ["/bin/sh", "-c", fn])
        XCTAssertEqual(cmd.stdout, "Howdy, operator!\n", cmd.stderr)
        let svc = try inRoot(root, ["timeout", "2", "/var/lib/hello-svc/service/run"])
        XCTAssertTrue(svc.stdout.hasPrefix("Howdy from hello-svc"), svc.stdout + svc.stderr)
        // Who the service runs as: swap the program for one that says so.
        root.write("var/lib/hello-svc/bin/hello-svc", "#!/bin/sh\necho \"$(id -un):$(id -gn) $* HOME=$HOME PWD=$PWD\"\n", mode: 0o755)
        let who = try inRoot(root, ["/var/lib/hello-svc/service/run"])
        XCTAssertEqual(who.stdout, "hello-svc:hello-svc serve HOME=/var/lib/hello-svc PWD=/var/lib/hello-svc\n", who.stderr)
    }

    func testPakmanAppAndScriptAppInstall() throws {
        let root = try makeRoot()
        let (_t, dir) = try copyFixture("pakman-demo")
        _ = _t
        let r = try RecipeLoader.load(file: dir + "/instellar.yml")
        var recipe = r
        recipe.version = Located("1.0.0", line: nil)
        var options = RecipeBuilder.Options(outputDirectory: dir + "/packages")
        options.architectures = ["x86_64"]
        let built = try RecipeBuilder(recipe: recipe, options: options, writer: PackageWriter(format: V2Format(), signer: RecipeKeys.signer, compression: .default),
                                      warn: { _ in }).run()
        XCTAssertEqual(try install(built.map(\.path), into: root), "pakman-demo installed\n")
        XCTAssertEqual(try inRoot(root, ["stat", "-c", "%U", "/var/lib/pakman-demo"]).stdout, "pakman-demo\n")
        let mig = try inRoot(root, ["/var/lib/pakman-demo/bin/env-exec", "--", "/var/lib/pakman-demo/bin/pakman-demo", "migrate"])
        XCTAssertEqual(mig.stdout, "pakman-demo: migrations done\n")
        root.write("etc/pakman-demo/environment", "SERVICE_MODE=worker\n")
        let svc = try inRoot(root, ["timeout", "1", "/var/lib/pakman-demo/service/run"])
        XCTAssertTrue(svc.stdout.hasPrefix("pakman-demo serving (worker)"), svc.stdout + svc.stderr)

        let (_g, gdir) = try copyFixture("greet")
        _ = _g
        let g = try RecipeLoader.load(file: gdir + "/apkit.yml")
        let gb = try RecipeBuilder(recipe: g, options: RecipeBuilder.Options(outputDirectory: gdir + "/packages"),
                                   writer: PackageWriter(format: V2Format(), signer: RecipeKeys.signer, compression: .default), warn: { _ in }).run()
        XCTAssertEqual(try install(gb.map(\.path), into: root), "Hello, apk!\n")
        XCTAssertEqual(try inRoot(root, ["greet", "root"]).stdout, "Hello, root!\n")
    }
}
