//! The exit codes, defined once: `--help` prints [`help`] and the READMEs' tables are
//! [`readme_table`] (a test compares them).

/// How a command ended, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success, including "already held" and "not held".
    Success,
    /// 1: an error: cluster, kubeconfig, not found, forbidden, timeout, lost every race.
    Error,
    /// 2: a usage error: bad flags, no claimant, an invalid `--holder`.
    Usage,
    /// 3: denied: another pod holds the lease (for `hold`, a live one), `hold --wait` timed out,
    /// or an admission webhook denied the write.
    Denied,
    /// 4: the lease is invalid (unreadable, or its holder is not a pod reference): needs `--force`.
    Invalid,
}

impl Exit {
    /// Every exit code, in order.
    pub const ALL: [Exit; 5] = [Exit::Success, Exit::Error, Exit::Usage, Exit::Denied, Exit::Invalid];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Denied => 3,
            Exit::Invalid => 4,
        }
    }

    /// What it means, as lines of the `--help` text (the README joins them into one).
    pub fn meaning(self) -> &'static [&'static str] {
        match self {
            Exit::Success => &["success, including \"already held\" and \"not held\""],
            Exit::Error => &[
                "error: cluster unreachable, kubeconfig, not found, forbidden, timeout",
                "(hold --wait rides out an unreachable, slow or failing server until --timeout)",
            ],
            Exit::Usage => &["usage: bad flags, no claimant, invalid --holder"],
            Exit::Denied => &[
                "denied: another pod holds the lease (hold: a live one; release: --force breaks it);",
                "also hold --wait when --timeout passes while a live pod holds it, and a write an",
                "admission webhook denied",
            ],
            Exit::Invalid => {
                &["the lease is invalid (unreadable, or its holder is not a pod reference): --force repairs it"]
            }
        }
    }
}

/// The "Exit codes:" section of `--help`.
pub fn help() -> String {
    let mut text = String::from("Exit codes:");
    for exit in Exit::ALL {
        for (n, line) in exit.meaning().iter().enumerate() {
            let code = if n == 0 { exit.code().to_string() } else { String::new() };
            text.push_str(&format!("\n  {code:<1}  {line}"));
        }
    }
    text
}

/// The exit-code table of the READMEs (Markdown).
pub fn readme_table() -> String {
    let mut table = String::from("| code | meaning |\n|---|---|\n");
    for exit in Exit::ALL {
        table.push_str(&format!("| {} | {} |\n", exit.code(), exit.meaning().join(" ")));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_help_lists_every_code_once() {
        let help = help();
        for exit in Exit::ALL {
            assert_eq!(help.matches(&format!("\n  {}  ", exit.code())).count(), 1, "{help}");
        }
    }
}
