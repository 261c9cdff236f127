//! Stamps the version `csplease-wasm --version` prints (`CSPLEASE_VERSION`: version, git commit,
//! target).

#[path = "../build_version.rs"]
mod build_version;

fn main() {
    build_version::emit();
}
