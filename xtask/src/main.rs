//! `cargo xtask`: the project's multi-step jobs.
//!
//! - `cargo xtask demo`: the main job, a guided demo of the lease protocol.
//! - `cargo xtask test`: every test the project has, installing what it needs first.
//! - `cargo xtask cluster up|down`: a throwaway local control plane (etcd + kube-apiserver).
//! - `cargo xtask web`: the browser lease inspector's page.
//! - `cargo xtask image`: the webhook's container image, an OCI archive in `target/dist/`.
//!
//! Modules depend one way: the jobs (`demo`, `test`, `cluster`) use the builds (`wasm`, `web`,
//! `fuzz`), which use the shared modules (`workspace`: the root, cargo, the tool cache;
//! `debian`: packages); nothing below imports anything above it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Jobs.
mod cluster;
mod demo;
mod dist;
mod image;
mod test;
// Builds and the tools they install.
mod fuzz;
mod wasm;
mod web;
// Shared.
mod debian;
mod resources;
mod workspace;

/// The project's automation entry point.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "csplease project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: the lease protocol on sample pools.
    Demo(demo::Args),
    /// Run every test: unit, property, conformance, and live tests.
    Test,
    /// Manage the local control plane used by the demo and the live tests.
    Cluster(cluster::Args),
    /// Build the browser lease inspector into web/pkg/.
    Web,
    /// Build the static release archives, their sha256 file and the krew manifest into target/dist/.
    Dist(dist::Args),
    /// Build the webhook's container image into target/dist/ (static binary, buildah, OCI archive).
    Image,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run_with(args),
        Command::Test => test::run(),
        Command::Cluster(args) => cluster::run(args),
        Command::Dist(args) => dist::run(args),
        Command::Image => image::build(&workspace::root(), dist::Profile::Dist).map(drop),
        Command::Web => {
            web::build(&workspace::root()).map(|pkg| eprintln!("xtask: inspector built in {}", pkg.display()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
