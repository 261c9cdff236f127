//! `cargo xtask`: the project's multi-step jobs.
//!
//! - `cargo xtask demo`: the main job, a guided demo of the lease protocol.
//! - `cargo xtask test`: every test the project has, installing what it needs first.
//! - `cargo xtask cluster up|down`: a throwaway local control plane (etcd + kube-apiserver).
//! - `cargo xtask image`: the webhook's container image, an OCI archive in `target/dist/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cluster;
mod demo;
mod image;
mod test;
mod wasm;
mod web;

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
    /// Build the webhook's container image into target/dist/ (static binary, buildah, OCI archive).
    Image,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run_with(args),
        Command::Test => test::run(),
        Command::Cluster(args) => cluster::run(args),
        Command::Image => image::build(&test::workspace_root()).map(drop),
        Command::Web => {
            web::build(&test::workspace_root()).map(|pkg| eprintln!("xtask: inspector built in {}", pkg.display()))
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
