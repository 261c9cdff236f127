//! The aarch64 release binaries run, and agree with the x86_64 build byte for byte: under
//! Debian's `qemu-aarch64-static`, `kubectl-csplease decide` and `csplease-wasm eval` answer every
//! conformance vector exactly as the x86_64 binaries do.
//!
//! The aarch64 binaries come from `$CSPLEASE_AARCH64_DIR` (`cargo xtask test` builds them with
//! `cargo xtask dist --for-tests`), else `target/aarch64-unknown-linux-musl/{dist-ci,dist}/`; the
//! x86_64 ones from `$CSPLEASE_PLUGIN_DIR` or the workspace's debug build. Without aarch64
//! binaries or qemu, each test says it is skipped and how to run it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use csplease_tests::{cluster, plugin, vectors};

const AARCH64: &str = "aarch64-unknown-linux-musl";
const QEMU: &str = "qemu-aarch64-static";

/// The directory of the aarch64 binaries, or `None` after saying why the test is skipped.
fn aarch64_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CSPLEASE_AARCH64_DIR").filter(|d| !d.is_empty()).map(PathBuf::from).or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| cluster::workspace_root().join("target"), PathBuf::from)
            .join(AARCH64);
        ["dist-ci", "dist"].iter().map(|p| target.join(p)).find(|d| d.join("kubectl-csplease").is_file())
    });
    let qemu = Command::new(QEMU).arg("--version").output().is_ok_and(|o| o.status.success());
    match dir {
        Some(dir) if qemu => Some(dir),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: needs the aarch64 binaries ($CSPLEASE_AARCH64_DIR, or `cargo xtask dist --for-tests`) \
                 and {QEMU} (Debian's qemu-user-static); `cargo xtask test` provides both"
            );
            None
        }
    }
}

/// Runs `program ARGS` (under qemu when `qemu`) with `input` on stdin; returns stdout, or panics
/// with stderr.
fn run(qemu: bool, program: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut command = if qemu {
        let mut c = Command::new(QEMU);
        c.arg(program);
        c
    } else {
        Command::new(program)
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("waiting for the binary");
    writer.join().expect("the stdin writer").expect("writing stdin");
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}): {}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every vector's request, one a line (JSON Lines), and the cases in that order.
fn requests() -> (Vec<vectors::Case>, Vec<u8>) {
    let cases = vectors::load();
    let mut lines = Vec::new();
    for case in &cases {
        assert!(!case.request.contains(&b'\n'), "{}: a request on one line", case.name);
        assert!(!case.request.iter().all(u8::is_ascii_whitespace), "{}: a blank request", case.name);
        lines.extend_from_slice(&case.request);
        lines.push(b'\n');
    }
    (cases, lines)
}

/// Compares two runtimes' decisions line by line, one a case; panics naming every case that differs.
fn same_decisions(cases: &[vectors::Case], left: (&str, &[u8]), right: (&str, &[u8])) {
    let l: Vec<&[u8]> = left.1.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let r: Vec<&[u8]> = right.1.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(l.len(), cases.len(), "{}: one decision per vector", left.0);
    assert_eq!(r.len(), cases.len(), "{}: one decision per vector", right.0);
    let differing: Vec<String> = cases
        .iter()
        .zip(l.iter().zip(&r))
        .filter(|(_, (a, b))| a != b)
        .map(|(case, (a, b))| {
            format!(
                "{}:\n  {}: {}\n  {}: {}",
                case.name,
                left.0,
                String::from_utf8_lossy(a),
                right.0,
                String::from_utf8_lossy(b)
            )
        })
        .collect();
    assert!(differing.is_empty(), "{} of {} vectors differ:\n{}", differing.len(), cases.len(), differing.join("\n"));
}

/// An ELF file's machine and whether it names a program interpreter (is dynamically linked).
fn elf_machine_and_interp(path: &Path) -> (u16, bool) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        bytes.len() > 64 && bytes.starts_with(b"\x7fELF\x02\x01"),
        "{}: a 64-bit little-endian ELF",
        path.display()
    );
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let phoff = usize::try_from(u64::from_le_bytes(bytes[0x20..0x28].try_into().expect("8 bytes"))).expect("fits");
    let (phentsize, phnum) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        bytes.get(at..at + 4) == Some(&3u32.to_le_bytes()[..]) // PT_INTERP
    });
    (u16_at(0x12), interp)
}

#[test]
fn aarch64_binaries_are_static_aarch64_executables_that_say_their_target() {
    let Some(dir) = aarch64_dir("aarch64_binaries_are_static_aarch64_executables_that_say_their_target") else {
        return;
    };
    for bin in ["kubectl-csplease", "csplease-wasm"] {
        let path = dir.join(bin);
        assert_eq!(elf_machine_and_interp(&path), (183, false), "{}: EM_AARCH64 (183), no interpreter", path.display());
        let version = String::from_utf8(run(true, &path, &["--version"], b"")).expect("UTF-8");
        let want = format!("{bin} {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(version.starts_with(&want), "{bin} --version: {version:?}");
        assert!(version.trim_end().ends_with(&format!(", {AARCH64})")), "{bin} --version: {version:?}");
    }
}

#[test]
fn aarch64_decide_and_eval_agree_with_x86_64_over_every_vector() {
    let Some(dir) = aarch64_dir("aarch64_decide_and_eval_agree_with_x86_64_over_every_vector") else {
        return;
    };
    let (cases, requests) = requests();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("arm64-qemu-wasm-cache-{}", std::process::id()));
    let cache = cache.to_str().expect("a UTF-8 path");
    let eval = ["--cache-dir", cache, "eval"];

    let x86_decide = run(false, &plugin::binary(), &["decide"], &requests);
    let arm_decide = run(true, &dir.join("kubectl-csplease"), &["decide"], &requests);
    same_decisions(
        &cases,
        ("x86_64 kubectl-csplease decide", &x86_decide),
        ("aarch64 kubectl-csplease decide", &arm_decide),
    );

    let x86_eval = run(false, &plugin::webhook_binary(), &eval, &requests);
    let arm_eval = run(true, &dir.join("csplease-wasm"), &eval, &requests);
    same_decisions(&cases, ("x86_64 csplease-wasm eval", &x86_eval), ("aarch64 csplease-wasm eval", &arm_eval));
    // And the two aarch64 runtimes (native core, the module in wasmtime) agree with each other.
    same_decisions(&cases, ("aarch64 decide", &arm_decide), ("aarch64 eval", &arm_eval));

    // The decisions are the vectors' expected ones, not merely alike.
    let wrong: Vec<String> = cases
        .iter()
        .zip(arm_decide.split(|b| *b == b'\n'))
        .flat_map(|(case, decision)| {
            vectors::mismatches(case, decision).into_iter().map(|m| format!("{}: {m}", case.name))
        })
        .collect();
    assert!(wrong.is_empty(), "aarch64 decisions that miss their vector:\n{}", wrong.join("\n"));
    eprintln!("{} vectors: aarch64 (qemu) == x86_64, byte for byte, in decide and eval", cases.len());
}
