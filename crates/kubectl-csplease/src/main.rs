//! `kubectl-csplease`: the binary; everything it does is [`kubectl_csplease::cli::run`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(kubectl_csplease::cli::run(
        std::env::args_os(),
        &kubectl_csplease::cli::Env::from_process(),
    ))
}
