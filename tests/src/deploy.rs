//! The webhook as users deploy it: where its container image and the Helm chart are, and the
//! `helm` the tests run. `cargo xtask image` builds the image archive and `cargo xtask test`
//! installs `helm` (from the Go module proxy) before the live tests look for them here.

use std::path::PathBuf;
use std::process::Command;

use crate::cluster::{cache_root, workspace_root};

/// The helm release the chart is tested with (`go install helm.sh/helm/v3/cmd/helm@v<this>`).
pub const HELM_VERSION: &str = "3.22.0";

/// The image's name, as `podman load` tags it.
pub const IMAGE_NAME: &str = "localhost/csplease/csplease-wasm";

/// The version the workspace builds (the image's tag).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The cache directory of the pinned helm: `<cache>/helm-<version>/`.
pub fn helm_dir() -> PathBuf {
    cache_root().join(format!("helm-{HELM_VERSION}"))
}

/// The pinned `helm` binary (`$CSPLEASE_HELM` overrides it).
pub fn helm_binary() -> PathBuf {
    std::env::var_os("CSPLEASE_HELM").map_or_else(|| helm_dir().join("bin").join("helm"), PathBuf::from)
}

/// `helm` with its state (repositories, cache) kept out of the user's home.
pub fn helm() -> Command {
    let state = std::env::temp_dir().join("csplease-helm-state");
    let mut command = Command::new(helm_binary());
    command
        .env("HELM_CONFIG_HOME", state.join("config"))
        .env("HELM_CACHE_HOME", state.join("cache"))
        .env("HELM_DATA_HOME", state.join("data"));
    command
}

/// The chart: `deploy/helm/csplease-webhook`.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("deploy").join("helm").join("csplease-webhook")
}

/// The image archive `cargo xtask image` writes: `target/dist/csplease-wasm-<version>-oci.tar`
/// (`$CSPLEASE_IMAGE` overrides it).
pub fn image_archive() -> PathBuf {
    std::env::var_os("CSPLEASE_IMAGE").map_or_else(
        || {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
            target.join("dist").join(format!("csplease-wasm-{VERSION}-oci.tar"))
        },
        PathBuf::from,
    )
}

/// The image's reference: `localhost/csplease/csplease-wasm:<version>`.
pub fn image_reference() -> String {
    format!("{IMAGE_NAME}:{VERSION}")
}
