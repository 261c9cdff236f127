//! The plugin installed the way users install kubectl plugins: the real krew (built from the Go
//! module proxy) installs it from the local release archive and the generated manifest into a
//! fresh `KREW_ROOT`, and `kubectl csplease status` then runs through krew's link against the real
//! API server. krew's own manifest checker (`validate-krew-manifest`) passes, and krew refuses an
//! archive whose sha256 is not the manifest's.
//!
//! Needs `$CSPLEASE_DIST_DIR` (the x86_64 plugin archive and `csplease.yaml`; default
//! `target/dist/`) and `$CSPLEASE_KREW_DIR` (`krew`, `validate-krew-manifest`; default the tool
//! cache's `krew-v0.4.3/`), both made by `cargo xtask dist --for-tests`, which `cargo xtask test`
//! runs. Runs only with `CSPLEASE_LIVE=1`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use csplease_tests::cluster::{self, Identity};
use csplease_tests::fixture::{Csp, lease_of, unique};

const KREW_VERSION: &str = "v0.4.3";

/// Where krew, the archive and the manifest are.
struct Dist {
    manifest: PathBuf,
    archive: PathBuf,
    krew: PathBuf,
    validate: PathBuf,
}

/// The built archive, manifest and krew, or `None` after saying why the test is skipped.
fn dist(test: &str) -> Option<Dist> {
    if !cluster::live_or_skip(test) {
        return None;
    }
    let dir = std::env::var_os("CSPLEASE_DIST_DIR").filter(|d| !d.is_empty()).map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| cluster::workspace_root().join("target"), PathBuf::from)
                .join("dist")
        },
        PathBuf::from,
    );
    let krew = std::env::var_os("CSPLEASE_KREW_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| cluster::cache_root().join(format!("krew-{KREW_VERSION}")), PathBuf::from);
    let archive = dir.join(format!("kubectl-csplease-v{}-linux-amd64.tar.gz", env!("CARGO_PKG_VERSION")));
    let found = Dist {
        manifest: dir.join("csplease.yaml"),
        archive,
        krew: krew.join("krew"),
        validate: krew.join("validate-krew-manifest"),
    };
    if [&found.manifest, &found.archive, &found.krew, &found.validate].iter().all(|p| p.is_file()) {
        return Some(found);
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs {} and {} and krew in {} (`cargo xtask dist --for-tests` builds them; \
         `cargo xtask test` does)",
        found.archive.display(),
        found.manifest.display(),
        krew.display()
    );
    None
}

/// A fresh `KREW_ROOT` with `kubectl-krew` beside it, and the `PATH` a krew user has:
/// `$KREW_ROOT/bin` first, then krew, then the rest of `PATH` without any other `kubectl-csplease`.
struct KrewHome {
    root: PathBuf,
    path: std::ffi::OsString,
}

impl KrewHome {
    fn new(dist: &Dist, name: &str) -> KrewHome {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique(name));
        let root = base.join("krew-root");
        let shim = base.join("bin");
        std::fs::create_dir_all(&shim).expect("creating the krew home");
        std::os::unix::fs::symlink(&dist.krew, shim.join("kubectl-krew")).expect("linking kubectl-krew");
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let rest = std::env::split_paths(&inherited).filter(|d| !d.join("kubectl-csplease").exists());
        let path = std::env::join_paths([root.join("bin"), shim].into_iter().chain(rest)).expect("a PATH");
        KrewHome { root, path }
    }

    /// `kubectl ARGS` (as `who` on the test cluster) with this krew home.
    fn kubectl(&self, who: Identity, args: &[&str]) -> Output {
        let mut command = cluster::shared().kubectl(who);
        command
            .env("PATH", &self.path)
            .env("KREW_ROOT", &self.root)
            .env("KREW_NO_UPGRADE_CHECK", "1")
            .env_remove("NAMESPACE")
            .env_remove("POD_NAME")
            .args(args);
        command.output().unwrap_or_else(|e| panic!("running kubectl {args:?}: {e}"))
    }

    fn kubectl_ok(&self, who: Identity, args: &[&str]) -> String {
        let output = self.kubectl(who, args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Adds a local git repository holding the manifest as krew index `csplease`.
    fn add_index(&self, dist: &Dist) {
        let repo = self.root.with_file_name("index");
        std::fs::create_dir_all(repo.join("plugins")).expect("creating the index");
        std::fs::copy(&dist.manifest, repo.join("plugins/csplease.yaml")).expect("copying the manifest");
        for args in [
            &["init", "-q"][..],
            &["add", "plugins/csplease.yaml"],
            &["-c", "user.name=csplease", "-c", "user.email=csplease@localhost", "commit", "-qm", "csplease"],
        ] {
            let status = Command::new("git").current_dir(&repo).args(args).status().expect("running git");
            assert!(status.success(), "git {args:?} in {}", repo.display());
        }
        let repo = repo.to_str().expect("a UTF-8 path");
        self.kubectl_ok(Identity::Admin, &["krew", "index", "add", "csplease", repo]);
    }

    fn install(&self, dist: &Dist, manifest: &Path) -> Output {
        let manifest = format!("--manifest={}", manifest.display());
        let archive = format!("--archive={}", dist.archive.display());
        self.kubectl(Identity::Admin, &["krew", "install", &manifest, &archive])
    }
}

/// A file's SHA-256 in hex, from `sha256sum`.
fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().expect("running sha256sum");
    assert!(output.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn krew_installs_the_archive_and_kubectl_csplease_status_runs_through_its_link() {
    let Some(dist) = dist("krew_installs_the_archive_and_kubectl_csplease_status_runs_through_its_link") else {
        return;
    };
    let cluster = cluster::shared();

    // krew's own manifest checker, without its install step (that one downloads the `uri`).
    let check = Command::new(&dist.validate)
        .arg(format!("-manifest={}", dist.manifest.display()))
        .arg("-skip-install")
        .output()
        .expect("running validate-krew-manifest");
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "validate-krew-manifest failed: {said}");
    assert!(said.contains("structural validation OK"), "{said}");

    let home = KrewHome::new(&dist, "krew-live");
    let installed = home.install(&dist, &dist.manifest);
    let (out, err) = (String::from_utf8_lossy(&installed.stdout), String::from_utf8_lossy(&installed.stderr));
    assert!(installed.status.success(), "kubectl krew install failed:\nstdout: {out}\nstderr: {err}");
    assert!(err.contains("Installed plugin: csplease"), "stdout: {out}\nstderr: {err}");

    // `krew list`, `info` and `uninstall` want a plugin index: a local git repository holding the
    // manifest, added the way users add a custom index.
    home.add_index(&dist);
    let list = home.kubectl_ok(Identity::Admin, &["krew", "list"]);
    assert!(list.lines().any(|l| l.trim().ends_with("csplease")), "krew list: {list}");
    let info = home.kubectl_ok(Identity::Admin, &["krew", "info", "csplease/csplease"]);
    let sha = sha256_of(&dist.archive);
    assert!(info.lines().any(|l| l == format!("SHA256: {sha}")), "krew info shows the archive's sha256 {sha}: {info}");
    // krew's link in $KREW_ROOT/bin points into its store, beside the archive's LICENSE.
    let link = home.root.join("bin/kubectl-csplease");
    let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{} is krew's link: {e}", link.display()));
    let store = home.root.join("store/csplease").join(format!("v{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(target, store.join("kubectl-csplease"), "krew's link");
    for file in ["LICENSE", "README.md"] {
        assert!(store.join(file).is_file(), "{file} installed from the archive into {}", store.display());
    }

    let version = home.kubectl_ok(Identity::Admin, &["csplease", "--version"]);
    assert!(
        version.starts_with(&format!("kubectl-csplease {} (commit ", env!("CARGO_PKG_VERSION")))
            && version.trim_end().ends_with(", x86_64-unknown-linux-musl)"),
        "kubectl csplease --version through krew: {version:?}"
    );

    // A pool with a lease, read through krew's link as the plugin's restricted identity.
    let csp = unique("csp-krew");
    Csp::named(&csp).lease(&lease_of("openebs/pool-krew-a", 3)).create(cluster);
    let table = home.kubectl_ok(Identity::Restricted, &["csplease", "status"]);
    let row = table.lines().find(|l| l.split_whitespace().next() == Some(csp.as_str()));
    let row = row.unwrap_or_else(|| panic!("{csp} in kubectl csplease status:\n{table}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[1..3], ["openebs/pool-krew-a", "3"], "{row}");
    let detail = home.kubectl_ok(Identity::Restricted, &["csplease", "status", &csp, "-o", "json"]);
    let detail: serde_json::Value = serde_json::from_str(&detail).expect("status -o json is JSON");
    assert_eq!(detail["name"], csp.as_str(), "{detail}");
    assert_eq!(detail["before"]["holder"], "openebs/pool-krew-a", "{detail}");

    // Uninstalling removes the link.
    home.kubectl_ok(Identity::Admin, &["krew", "uninstall", "csplease"]);
    assert!(!link.exists(), "krew uninstall removes {}", link.display());
}

#[test]
fn krew_refuses_an_archive_whose_sha256_is_not_the_manifests() {
    let Some(dist) = dist("krew_refuses_an_archive_whose_sha256_is_not_the_manifests") else {
        return;
    };
    let manifest = std::fs::read_to_string(&dist.manifest).expect("reading the manifest");
    let at = manifest.find("sha256: \"").expect("the manifest has a sha256") + "sha256: \"".len();
    let flipped = if manifest.as_bytes()[at] == b'0' { "1" } else { "0" };
    let home = KrewHome::new(&dist, "krew-tampered");
    let tampered = home.root.with_file_name("csplease.yaml");
    std::fs::write(&tampered, format!("{}{flipped}{}", &manifest[..at], &manifest[at + 1..])).expect("writing");
    let installed = home.install(&dist, &tampered);
    let err = String::from_utf8_lossy(&installed.stderr);
    assert!(!installed.status.success(), "krew installed an archive with the wrong sha256: {err}");
    assert!(err.contains("checksum does not match"), "{err}");
    assert!(!home.root.join("bin/kubectl-csplease").exists(), "nothing linked");
}
