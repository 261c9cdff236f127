//! Embeds the lease inspector page (`web/`) when `cargo xtask web` has built it into `web/pkg/`;
//! without it, `kubectl csplease inspect` says how to build it. Stamps the version `--version`
//! prints (`CSPLEASE_VERSION`: version, git commit, target).

use std::path::Path;

#[path = "../build_version.rs"]
mod build_version;

const PAGE: [&str; 4] = ["index.html", "pkg/inspector.js", "pkg/inspector.css", "pkg/csplease_bg.wasm"];

fn main() {
    build_version::emit();
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    println!("cargo::rustc-check-cfg=cfg(csplease_inspector)");
    println!("cargo::rerun-if-changed={}", web.join("pkg").display());
    for file in PAGE {
        println!("cargo::rerun-if-changed={}", web.join(file).display());
    }
    if PAGE.iter().all(|f| web.join(f).is_file()) {
        println!("cargo::rustc-cfg=csplease_inspector");
    }
}
