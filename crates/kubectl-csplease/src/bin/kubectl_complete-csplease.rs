//! `kubectl_complete-csplease`: what kubectl runs to complete `kubectl csplease ...`; everything it
//! does is [`kubectl_csplease::complete::run`].

use std::io::Write as _;

fn main() {
    let out = kubectl_csplease::complete::run(
        std::env::args_os(),
        std::sync::Arc::new(kubectl_csplease::complete::ClusterLookup),
    );
    // A closed pipe is the shell giving up on this completion: nothing left to do.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}
