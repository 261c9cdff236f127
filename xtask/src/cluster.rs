//! `cargo xtask cluster`: the local control plane (filled in by the control-plane issue).

/// Arguments of `cargo xtask cluster`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cargo xtask cluster`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cluster: not built yet")
}
