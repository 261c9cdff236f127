//! `cargo xtask dist`: static (musl) release archives of `kubectl-csplease` and `csplease-wasm`
//! for Linux x86_64 and aarch64, their `sha256` file, and the krew manifest, in `target/dist/`.
//!
//! Cross-compiling uses `cargo-zigbuild` (from crates.io) with Zig (PyPI's `ziglang`) as the C
//! compiler and linker: ring, under rustls, compiles C and assembly, and Zig carries musl's
//! headers and a C cross compiler for every target in one package. Each tool is installed once
//! into a version-keyed directory of the tool cache (`${CSPLEASE_CACHE:-~/.cache/csplease}/`):
//! `cargo-zigbuild-<version>/bin/cargo-zigbuild` and a virtual environment `ziglang-<version>/`.
//! [`build_static`] builds one binary for one target; everything else here packs what it builds.
//!
//! What `target/dist/` holds after `cargo xtask dist`:
//!
//! | file | what |
//! |---|---|
//! | `kubectl-csplease-v<version>-linux-{amd64,arm64}.tar.gz` | the plugin, `LICENSE`, `README.md` |
//! | `csplease-wasm-v<version>-linux-{amd64,arm64}.tar.gz` | the evaluator and webhook, `LICENSE`, `README.md` |
//! | `sha256` | `sha256sum` of every archive (check with `sha256sum -c sha256`) |
//! | `csplease.yaml` | the krew manifest (`deploy/krew/csplease.template.yaml` with each platform's archive and sha256) |
//!
//! `cargo xtask test` builds only what its tests need ([`for_tests`]): both binaries for aarch64
//! (run under qemu against the x86_64 build over every vector) and the x86_64 plugin archive with
//! its manifest (installed by the real krew), with the lighter `dist-ci` profile.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, ensure};

use crate::workspace::{self, run as run_tool, target_dir};

/// The `cargo-zigbuild` release the cross builds use.
pub const CARGO_ZIGBUILD_VERSION: &str = "0.24.1";
/// The Zig release (PyPI's `ziglang`) `cargo-zigbuild` drives.
pub const ZIG_VERSION: &str = "0.15.2";
/// The krew release the krew test installs the plugin with (`sigs.k8s.io/krew`).
pub const KREW_VERSION: &str = "v0.4.3";
/// The version of the archives: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A Linux target the archives are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The Rust target triple.
    pub triple: &'static str,
    /// The architecture as krew and Go name it (`GOARCH`).
    pub arch: &'static str,
}

/// Linux on x86_64, statically linked with musl.
pub const X86_64: Target = Target { triple: "x86_64-unknown-linux-musl", arch: "amd64" };
/// Linux on aarch64 (arm64), statically linked with musl.
pub const AARCH64: Target = Target { triple: "aarch64-unknown-linux-musl", arch: "arm64" };
/// Every target `cargo xtask dist` builds.
pub const TARGETS: [Target; 2] = [X86_64, AARCH64];

/// A binary the archives carry: its package and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    /// The cargo package.
    pub package: &'static str,
    /// The binary's name.
    pub bin: &'static str,
}

/// The kubectl plugin.
pub const PLUGIN: Binary = Binary { package: "kubectl-csplease", bin: "kubectl-csplease" };
/// The JSON Lines evaluator and admission webhook.
pub const EVALUATOR: Binary = Binary { package: "csplease-wasm", bin: "csplease-wasm" };
/// Every binary `cargo xtask dist` packs.
pub const BINARIES: [Binary; 2] = [PLUGIN, EVALUATOR];

/// A cargo profile for static binaries, defined on the command line (`--config`), so the
/// workspace's own profiles stay as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dist`: the release profile (optimised, thin LTO), stripped. What `cargo xtask dist` ships.
    Dist,
    /// `dist-ci`: not optimised (`opt-level` 0), no LTO, more codegen units, stripped: the tests'
    /// build, which only runs the binaries over the vectors, `status` through krew and the webhook
    /// in its image. About five times faster to compile than `opt-level` 1 (BENCHMARKS.md
    /// section 7).
    DistCi,
}

impl Profile {
    /// The profile's name (`--profile`), also its output directory under `target/<triple>/`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Dist => "dist",
            Profile::DistCi => "dist-ci",
        }
    }

    /// The `--config` values that define the profile.
    fn config(self) -> Vec<String> {
        let name = self.name();
        let mut config = vec![format!("profile.{name}.inherits=\"release\""), format!("profile.{name}.strip=true")];
        if self == Profile::DistCi {
            config.push(format!("profile.{name}.opt-level=0"));
            config.push(format!("profile.{name}.lto=false"));
            config.push(format!("profile.{name}.codegen-units=16"));
        }
        config
    }
}

/// Arguments of `cargo xtask dist`.
#[derive(clap::Args)]
pub struct Args {
    /// Build only this target (repeatable); default: every target.
    #[arg(long = "target", value_name = "TRIPLE")]
    targets: Vec<String>,
    /// Build with the tests' lighter profile (`dist-ci`) instead of `dist`.
    #[arg(long)]
    ci_profile: bool,
    /// Build only what `cargo xtask test` builds (both binaries for aarch64, the x86_64 plugin,
    /// krew), with the lighter profile.
    #[arg(long, conflicts_with_all = ["targets", "ci_profile"])]
    for_tests: bool,
}

/// Runs `cargo xtask dist`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = workspace::root();
    // The plugin embeds the browser inspector when its page is built.
    crate::web::build(&root)?;
    if args.for_tests {
        let built = for_tests(&root)?;
        eprintln!("xtask: {:#?}", built);
        return Ok(());
    }
    let targets: Vec<Target> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        args.targets
            .iter()
            .map(|t| {
                TARGETS.iter().copied().find(|known| known.triple == t).with_context(|| {
                    let known: Vec<_> = TARGETS.iter().map(|k| k.triple).collect();
                    format!("unknown target {t}; known: {}", known.join(", "))
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let profile = if args.ci_profile { Profile::DistCi } else { Profile::Dist };
    let wanted: Vec<(Target, Binary)> = targets.iter().flat_map(|t| BINARIES.iter().map(move |b| (*t, *b))).collect();
    let dist = build_archives(&root, &wanted, profile)?;
    for archive in &dist.archives {
        eprintln!("xtask: {}", archive.path.display());
    }
    eprintln!("xtask: {}\nxtask: {}", dist.sha256.display(), dist.manifest.display());
    Ok(())
}

/// What [`for_tests`] built, for the tests' environment.
#[derive(Debug)]
pub struct ForTests {
    /// `target/dist/`: the x86_64 plugin archive and the krew manifest.
    pub dist: PathBuf,
    /// The directory holding the aarch64 `kubectl-csplease` and `csplease-wasm`.
    pub aarch64: PathBuf,
    /// The directory holding `krew` and `validate-krew-manifest`.
    pub krew: PathBuf,
    /// The static x86_64 `csplease-wasm`, which the webhook's container image carries.
    pub webhook: PathBuf,
}

/// Builds what `cargo xtask test` needs (with [`Profile::DistCi`]): both binaries for aarch64, the
/// x86_64 plugin archive with the krew manifest, the x86_64 webhook binary for the container
/// image (in the same cargo run as the x86_64 plugin, so the two share their dependencies' build),
/// and krew itself.
pub fn for_tests(root: &Path) -> anyhow::Result<ForTests> {
    let krew = ensure_krew()?;
    let wanted = [(AARCH64, PLUGIN), (AARCH64, EVALUATOR), (X86_64, PLUGIN), (X86_64, EVALUATOR)];
    let dist = build_archives(root, &wanted, Profile::DistCi)?;
    let webhook = target_dir(root).join(X86_64.triple).join(Profile::DistCi.name()).join(EVALUATOR.bin);
    let aarch64 = target_dir(root).join(AARCH64.triple).join(Profile::DistCi.name());
    Ok(ForTests { dist: dist.dir, aarch64, krew, webhook })
}

/// One archive.
#[derive(Debug)]
pub struct Archive {
    /// Its path.
    pub path: PathBuf,
    /// What it holds.
    pub binary: Binary,
    /// For which target.
    pub target: Target,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

/// What [`build_archives`] wrote.
#[derive(Debug)]
pub struct Dist {
    /// `target/dist/`.
    pub dir: PathBuf,
    /// The archives.
    pub archives: Vec<Archive>,
    /// The `sha256` file.
    pub sha256: PathBuf,
    /// The krew manifest, when a plugin archive was built.
    pub manifest: PathBuf,
}

/// Builds each (target, binary) static, packs each into its archive in `target/dist/` (emptied
/// first), and writes the `sha256` file and the krew manifest for the plugin archives built.
pub fn build_archives(root: &Path, wanted: &[(Target, Binary)], profile: Profile) -> anyhow::Result<Dist> {
    let dir = target_dir(root).join("dist");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut archives = Vec::new();
    for target in TARGETS.iter().filter(|t| wanted.iter().any(|(w, _)| w == *t)) {
        let binaries: Vec<Binary> = wanted.iter().filter(|(t, _)| t == target).map(|(_, b)| *b).collect();
        let built = build_static(root, &binaries, *target, profile)?;
        for (binary, path) in binaries.iter().zip(built) {
            let name = format!("{}-v{VERSION}-linux-{}.tar.gz", binary.bin, target.arch);
            let archive = dir.join(&name);
            pack(root, &path, &archive)?;
            let sha256 = sha256(&archive)?;
            archives.push(Archive { path: archive, binary: *binary, target: *target, sha256 });
        }
    }
    let mut sums = String::new();
    for archive in &archives {
        let name = archive.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let _ = writeln!(sums, "{}  {name}", archive.sha256);
    }
    let sha256_file = dir.join("sha256");
    std::fs::write(&sha256_file, sums).with_context(|| format!("writing {}", sha256_file.display()))?;
    let manifest = dir.join("csplease.yaml");
    let plugins: Vec<&Archive> = archives.iter().filter(|a| a.binary == PLUGIN).collect();
    let template_path = root.join(KREW_TEMPLATE);
    let template =
        std::fs::read_to_string(&template_path).with_context(|| format!("reading {}", template_path.display()))?;
    let text = krew_manifest(&template, &plugins, &repository(root)?)?;
    std::fs::write(&manifest, text).with_context(|| format!("writing {}", manifest.display()))?;
    Ok(Dist { dir, archives, sha256: sha256_file, manifest })
}

/// Builds `binaries` (all of one target) as static executables for `target` with `profile`, in one
/// cargo run, and returns their paths (in the order given), under
/// `target/<triple>/<profile>/`. Installs the cross tools first when they are missing.
pub fn build_static(
    root: &Path,
    binaries: &[Binary],
    target: Target,
    profile: Profile,
) -> anyhow::Result<Vec<PathBuf>> {
    let tools = ensure_cross_tools(target)?;
    let mut command = Command::new(&tools.cargo_zigbuild);
    command.current_dir(root).args(["zigbuild", "--locked", "--target", target.triple, "--profile", profile.name()]);
    for config in profile.config() {
        command.arg("--config").arg(config);
    }
    for binary in binaries {
        command.args(["-p", binary.package, "--bin", binary.bin]);
    }
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        command.args(["-j", "2"]);
    }
    // `cargo-zigbuild` finds Zig as `python3 -m ziglang`: the cached virtual environment's.
    command.env("PATH", path_with(&tools.zig_venv.join("bin"))?);
    let names: Vec<&str> = binaries.iter().map(|b| b.bin).collect();
    eprintln!("xtask: building {} for {} (profile {})", names.join(", "), target.triple, profile.name());
    let started = Instant::now();
    let status = command.status().with_context(|| format!("running {}", tools.cargo_zigbuild.display()))?;
    ensure!(status.success(), "cargo zigbuild --target {} failed ({status})", target.triple);
    eprintln!("xtask: built {} for {} in {:.0?}", names.join(", "), target.triple, started.elapsed());
    let out = target_dir(root).join(target.triple).join(profile.name());
    binaries
        .iter()
        .map(|binary| {
            let path = out.join(binary.bin);
            ensure!(path.is_file(), "cargo built {} but {} is missing", binary.bin, path.display());
            Ok(path)
        })
        .collect()
}

/// The cross tools, once installed.
struct CrossTools {
    cargo_zigbuild: PathBuf,
    zig_venv: PathBuf,
}

/// Installs what cross-compiling to `target` needs when it is missing: the Rust target, Zig
/// (PyPI's `ziglang` in a virtual environment) and `cargo-zigbuild` (`cargo install`), the last
/// two into the tool cache.
fn ensure_cross_tools(target: Target) -> anyhow::Result<CrossTools> {
    ensure_rust_target(target.triple)?;
    let zig_venv = workspace::tool_dir("ziglang", ZIG_VERSION)?;
    let python = zig_venv.join("bin/python3");
    let zig_works = || Command::new(&python).args(["-m", "ziglang", "version"]).output();
    if !zig_works().is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == ZIG_VERSION) {
        eprintln!("xtask: installing Zig {ZIG_VERSION} (PyPI ziglang) into {}", zig_venv.display());
        run_tool(Command::new("python3").args(["-m", "venv"]).arg(&zig_venv), "python3 -m venv")?;
        let package = format!("ziglang=={ZIG_VERSION}");
        run_tool(Command::new(zig_venv.join("bin/pip")).args(["install", "--quiet", &package]), "pip install ziglang")?;
        let output = zig_works().context("running zig")?;
        ensure!(output.status.success(), "the installed Zig does not run: {}", String::from_utf8_lossy(&output.stderr));
    }
    let root = workspace::tool_dir("cargo-zigbuild", CARGO_ZIGBUILD_VERSION)?;
    let cargo_zigbuild = root.join("bin/cargo-zigbuild");
    if !cargo_zigbuild.is_file() {
        eprintln!("xtask: installing cargo-zigbuild {CARGO_ZIGBUILD_VERSION} into {}", root.display());
        let mut install = Command::new("cargo");
        install
            .args(["install", "cargo-zigbuild", "--locked", "--no-default-features", "--version"])
            .arg(CARGO_ZIGBUILD_VERSION)
            .arg("--root")
            .arg(&root);
        run_tool(&mut install, "cargo install cargo-zigbuild")?;
    }
    Ok(CrossTools { cargo_zigbuild, zig_venv })
}

/// Adds the Rust standard library for `triple` with rustup when it is missing.
fn ensure_rust_target(triple: &str) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running `rustup target list --installed`; is rustup installed?")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == triple) {
        return Ok(());
    }
    eprintln!("xtask: installing the Rust target {triple}");
    run_tool(Command::new("rustup").args(["target", "add", triple]), "rustup target add")
}

/// Builds krew and krew's manifest checker (`validate-krew-manifest`) from the Go module proxy
/// once, into `${CSPLEASE_CACHE}/krew-<version>/`, and returns that directory.
pub fn ensure_krew() -> anyhow::Result<PathBuf> {
    let dir = workspace::tool_dir("krew", KREW_VERSION)?;
    if ["krew", "validate-krew-manifest"].iter().all(|b| dir.join(b).is_file()) {
        return Ok(dir);
    }
    eprintln!("xtask: building krew {KREW_VERSION} from the Go module proxy into {}", dir.display());
    let ldflags = format!(
        "-s -w -X sigs.k8s.io/krew/internal/version.gitTag={KREW_VERSION} \
         -X sigs.k8s.io/krew/internal/version.gitCommit=module-proxy"
    );
    let mut install = Command::new("go");
    install
        .args(["install", "-trimpath", "-ldflags", &ldflags])
        .arg(format!("sigs.k8s.io/krew/cmd/krew@{KREW_VERSION}"))
        .arg(format!("sigs.k8s.io/krew/cmd/validate-krew-manifest@{KREW_VERSION}"))
        .env("GOBIN", &dir)
        .env("CGO_ENABLED", "0");
    run_tool(&mut install, "go install sigs.k8s.io/krew")?;
    Ok(dir)
}

/// Packs `binary`, `LICENSE` and `README.md` into the gzip'd tarball `archive`: files at the top
/// level, owned by root, dated at the commit (reproducible for one commit and toolchain).
fn pack(root: &Path, binary: &Path, archive: &Path) -> anyhow::Result<()> {
    let staging = archive.with_extension("staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let name = binary.file_name().context("a binary has a file name")?;
    for (from, to) in [
        (binary.to_path_buf(), PathBuf::from(name)),
        (root.join("LICENSE"), "LICENSE".into()),
        (root.join("README.md"), "README.md".into()),
    ] {
        std::fs::copy(&from, staging.join(&to)).with_context(|| format!("copying {}", from.display()))?;
    }
    let mtime = git(root, &["log", "-1", "--format=%ct"]).unwrap_or_else(|| "0".to_owned());
    let mut tar = Command::new("tar");
    tar.arg("--create")
        .arg("--file")
        .arg(archive)
        .args(["--use-compress-program=gzip -n -9", "--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
        .arg(format!("--mtime=@{mtime}"))
        .arg("--directory")
        .arg(&staging)
        .arg(name)
        .args(["LICENSE", "README.md"]);
    run_tool(&mut tar, "tar")?;
    std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))
}

/// The SHA-256 of a file, in hex, from `sha256sum`.
fn sha256(path: &Path) -> anyhow::Result<String> {
    let output = Command::new("sha256sum").arg(path).output().context("running sha256sum")?;
    ensure!(output.status.success(), "sha256sum {} failed", path.display());
    let text = String::from_utf8_lossy(&output.stdout);
    let hash = text.split_whitespace().next().unwrap_or_default();
    ensure!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "sha256sum printed {text:?}");
    Ok(hash.to_owned())
}

/// The krew manifest template (descriptions, caveats): `cargo xtask dist` fills in the version,
/// the homepage and one platform per plugin archive.
pub const KREW_TEMPLATE: &str = "deploy/krew/csplease.template.yaml";

/// Fills in the krew manifest template: `__VERSION__`, `__HOMEPAGE__`, and `__PLATFORMS__` with
/// one platform per archive (selector `os: linux`, `arch`; the release URI under `repository`;
/// the real `sha256`; `bin`; `files`).
pub fn krew_manifest(template: &str, plugins: &[&Archive], repository: &str) -> anyhow::Result<String> {
    ensure!(!plugins.is_empty(), "no plugin archive to write a krew manifest for");
    let mut platforms = String::new();
    for archive in plugins {
        let name = archive.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let bin = archive.binary.bin;
        let _ = write!(
            platforms,
            "\n    - selector:\n        matchLabels:\n          os: linux\n          arch: {arch}\n      \
             uri: {repository}/releases/download/v{VERSION}/{name}\n      sha256: \"{sha}\"\n      bin: {bin}\n      \
             files:\n        - from: {bin}\n          to: .\n        - from: LICENSE\n          to: .\n        \
             - from: README.md\n          to: .",
            arch = archive.target.arch,
            sha = archive.sha256,
        );
    }
    for placeholder in ["__VERSION__", "__HOMEPAGE__", " __PLATFORMS__"] {
        ensure!(template.contains(placeholder), "{KREW_TEMPLATE} has no {placeholder:?}");
    }
    Ok(template
        .replace("__VERSION__", &format!("v{VERSION}"))
        .replace("__HOMEPAGE__", repository)
        .replace(" __PLATFORMS__", &platforms))
}

/// The workspace's `repository` (root `Cargo.toml`, `[workspace.package]`), the base of the
/// release URIs and the manifest's homepage.
fn repository(root: &Path) -> anyhow::Result<String> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix("repository")?.trim_start().strip_prefix('=')?.trim();
            Some(value.trim_matches('"').trim_end_matches('/').to_owned())
        })
        .with_context(|| format!("{} names no repository", path.display()))
}

/// `git ARGS` in `root`, trimmed; `None` when git fails (not a checkout).
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").current_dir(root).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> anyhow::Result<OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)))
        .context("a PATH entry holds ':'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_has_one_platform_per_plugin_archive_with_its_sha256() {
        let template = std::fs::read_to_string(workspace::root().join(KREW_TEMPLATE)).expect("template");
        let archives: Vec<Archive> = TARGETS
            .iter()
            .map(|t| Archive {
                path: PathBuf::from(format!("target/dist/kubectl-csplease-v{VERSION}-linux-{}.tar.gz", t.arch)),
                binary: PLUGIN,
                target: *t,
                sha256: t.arch.repeat(64).chars().take(64).collect(),
            })
            .collect();
        let refs: Vec<&Archive> = archives.iter().collect();
        let manifest = krew_manifest(&template, &refs, "https://example.org/csplease").expect("manifest");
        for placeholder in ["__VERSION__", "__HOMEPAGE__", "__PLATFORMS__"] {
            assert!(!manifest.contains(placeholder), "{placeholder} left in:\n{manifest}");
        }
        assert_eq!(manifest.matches("- selector:").count(), 2, "{manifest}");
        assert!(manifest.contains(&format!("version: v{VERSION}")), "{manifest}");
        assert!(manifest.contains(&format!(
            "uri: https://example.org/csplease/releases/download/v{VERSION}/kubectl-csplease-v{VERSION}-linux-arm64.tar.gz"
        )));
        assert!(manifest.contains(&format!("sha256: \"{}\"", archives[0].sha256)), "{manifest}");
    }
}
