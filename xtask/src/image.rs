//! `cargo xtask image`: the webhook's container image, without a Docker engine.
//!
//! 1. a static x86_64 `csplease-wasm` (musl), built as `cargo xtask dist` builds it
//!    ([`dist::build_static`]), so the image needs no libc;
//! 2. buildah (Debian's) assembles `FROM scratch`: the binary as `/csplease-wasm`, a
//!    world-writable `/tmp` for the compiled-module cache and the self-managed certificates,
//!    numeric user 65532, and the OCI labels (version, source, revision, licenses);
//! 3. the image is saved as an OCI archive, `target/dist/csplease-wasm-<version>-oci.tar`, which
//!    `podman load -i` (or `podman run oci-archive:...`) takes.
//!
//! Also here: the pinned `helm` the chart's tests run, built from the Go module proxy into the
//! tool cache once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use csplease_tests::deploy;

use crate::debian::ensure_packages;
use crate::dist;

/// The Debian packages the image needs: buildah to assemble the image, podman and runc to run it
/// in the tests.
const PACKAGES: &[&str] = &["buildah", "podman", "runc"];
/// The Kubernetes version helm's own Go modules are (k8s.io/client-go v0.37 in helm 3.22.0).
const HELM_K8S: (&str, &str) = ("1", "37");
/// The user the image runs as (distroless's `nonroot`).
pub const USER: &str = "65532:65532";

/// Builds the image archive, its binary built with `profile`, and returns its path.
pub fn build(root: &Path, profile: dist::Profile) -> anyhow::Result<PathBuf> {
    let binary = static_binary(root, profile)?;
    archive(root, &binary)
}

/// Assembles the image around `binary` (a static x86_64 `csplease-wasm`) and saves it as the OCI
/// archive; returns the archive's path.
pub fn archive(root: &Path, binary: &Path) -> anyhow::Result<PathBuf> {
    ensure_packages(PACKAGES)?;
    let archive = deploy::image_archive();
    let dir = archive.parent().context("the archive has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let empty = dir.join("empty-tmp");
    std::fs::create_dir_all(&empty).with_context(|| format!("creating {}", empty.display()))?;

    let name = format!("csplease-image-{}", std::process::id());
    run(Command::new("buildah").args(["from", "--name", &name, "scratch"]))?;
    let assembled = assemble(root, &name, binary, &empty, &archive);
    let _ = Command::new("buildah").args(["rm", &name]).output();
    assembled?;
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or_default();
    eprintln!("xtask: image {} in {} ({:.1} MiB)", deploy::image_reference(), archive.display(), mib(size));
    Ok(archive)
}

fn assemble(root: &Path, name: &str, binary: &Path, empty: &Path, archive: &Path) -> anyhow::Result<()> {
    run(Command::new("buildah").args(["copy", "--chmod", "0755", name]).arg(binary).arg("/csplease-wasm"))?;
    run(Command::new("buildah").args(["copy", "--chmod", "1777", name]).arg(empty).arg("/tmp"))?;
    let revision = git(root, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    let labels = [
        ("org.opencontainers.image.title", "csplease-wasm".to_owned()),
        ("org.opencontainers.image.description", "The csplease lease policy as an admission webhook".to_owned()),
        ("org.opencontainers.image.version", deploy::VERSION.to_owned()),
        ("org.opencontainers.image.source", repository(root)),
        ("org.opencontainers.image.revision", revision),
        ("org.opencontainers.image.licenses", "Apache-2.0".to_owned()),
    ];
    let mut config = Command::new("buildah");
    config.args(["config", "--user", USER, "--entrypoint", r#"["/csplease-wasm"]"#, "--cmd", "serve"]);
    config.args(["--env", "CSPLEASE_WASM_CACHE=/tmp/wasmtime", "--port", "8443/tcp", "--workingdir", "/"]);
    for (key, value) in labels {
        config.arg("--label").arg(format!("{key}={value}"));
    }
    run(config.arg(name))?;
    let _ = std::fs::remove_file(archive);
    let destination = format!("oci-archive:{}:{}", archive.display(), deploy::image_reference());
    run(Command::new("buildah").args(["commit", "--quiet", "--format", "oci", name, &destination]))
}

/// `csplease-wasm` for x86_64, linked statically with musl: the release archives' own build.
pub fn static_binary(root: &Path, profile: dist::Profile) -> anyhow::Result<PathBuf> {
    let built = dist::build_static(root, &[dist::EVALUATOR], dist::X86_64, profile)?;
    let binary = built.into_iter().next().context("the static build names no binary")?;
    let file = Command::new("file").arg(&binary).output();
    if let Ok(out) = file {
        let what = String::from_utf8_lossy(&out.stdout);
        if what.contains("dynamically linked") {
            bail!("{} is dynamically linked: {what}", binary.display());
        }
    }
    Ok(binary)
}

/// Installs the pinned `helm` into the tool cache (`go install` from the Go module proxy) unless
/// it is there.
pub fn ensure_helm() -> anyhow::Result<PathBuf> {
    let dir = deploy::helm_dir();
    let binary = dir.join("bin").join("helm");
    if binary.is_file() {
        return Ok(binary);
    }
    let version = deploy::HELM_VERSION;
    eprintln!("xtask: building helm {version} from the Go module proxy into {} (a few minutes)", dir.display());
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    // What helm's Makefile sets at link time: without it `helm version` is blank and `helm
    // template` assumes Kubernetes 1.20 (the chart needs 1.30).
    let ldflags = [
        format!("helm.sh/helm/v3/internal/version.version=v{version}"),
        "helm.sh/helm/v3/internal/version.gitTreeState=clean".to_owned(),
        format!("helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor={}", HELM_K8S.0),
        format!("helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={}", HELM_K8S.1),
        format!("helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor={}", HELM_K8S.0),
        format!("helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={}", HELM_K8S.1),
    ]
    .map(|x| format!("-X {x}"))
    .join(" ");
    let mut go = Command::new("go");
    go.args(["install", "-trimpath", "-ldflags", &format!("-w -s {ldflags}")]);
    go.arg(format!("helm.sh/helm/v3/cmd/helm@v{version}"));
    go.env("GOBIN", partial.join("bin")).env("CGO_ENABLED", "0");
    run(&mut go).context("building helm (needs Go and the Go module proxy)")?;
    std::fs::rename(&partial, &dir).with_context(|| format!("moving {} into place", partial.display()))?;
    Ok(binary)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").current_dir(root).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The workspace's `repository` (its `Cargo.toml`), the image's source label.
fn repository(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("repository = "))
        .map_or_else(|| "unknown".to_owned(), |v| v.trim_matches('"').to_owned())
}

fn mib(bytes: u64) -> f64 {
    // Sizes of images are far below 2^52, where the conversion would round.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / f64::from(1 << 20)
}
