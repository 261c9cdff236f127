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
    /// 5: `run`: the lease was lost while the command ran (broken, taken or rewritten, or the
    /// CStorPool deleted), and the command was stopped.
    LeaseLost,
    /// 126: `run`: the command was found but could not be started (as `env` and `timeout` say).
    CannotRun,
    /// 127: `run`: the command was not found (as `env` and `timeout` say).
    CommandNotFound,
    /// `run`: the command's own exit status once it ran, 128 + N when signal N ended it; and
    /// 128 + N when signal N stopped `hold`, `release` or `run` while taking or giving up the
    /// lease.
    Command(u8),
}

impl Exit {
    /// Every exit code, in order.
    pub const ALL: [Exit; 8] = [
        Exit::Success,
        Exit::Error,
        Exit::Usage,
        Exit::Denied,
        Exit::Invalid,
        Exit::LeaseLost,
        Exit::CannotRun,
        Exit::CommandNotFound,
    ];

    /// The exit code of a command `run` ran: its status, or 128 + N when signal N ended it (as
    /// shells report it).
    pub fn of_command(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt as _;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Command(u8::try_from(code & 0xff).unwrap_or(1)),
            (None, Some(signal)) => Exit::of_signal(signal),
            (None, None) => Exit::Command(1),
        }
    }

    /// The exit code of a process signal `number` ended: 128 + the number, as shells report it.
    pub fn of_signal(number: i32) -> Exit {
        Exit::Command(u8::try_from(128 + number).unwrap_or(1))
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Denied => 3,
            Exit::Invalid => 4,
            Exit::LeaseLost => 5,
            Exit::CannotRun => 126,
            Exit::CommandNotFound => 127,
            Exit::Command(code) => code,
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
            Exit::LeaseLost => &[
                "run: the lease was lost while the command ran (broken, taken, rewritten, or the",
                "CStorPool deleted): the command was stopped",
            ],
            Exit::CannotRun => &["run: the command could not be started"],
            Exit::CommandNotFound => &["run: the command was not found"],
            Exit::Command(_) => &[
                "run: once the command ran, its own exit status (128+N when signal N ended it);",
                "1 if it succeeded but the lease could not be given back. hold, release, run:",
                "128+N when signal N stopped them while taking or giving up the lease",
            ],
        }
    }

    /// How the code is shown in `--help` and the READMEs: the number, or "other" for a
    /// command's own status.
    fn label(self) -> String {
        match self {
            Exit::Command(_) => "other".to_owned(),
            _ => self.code().to_string(),
        }
    }
}

/// Every row of the exit-code table: the fixed codes, then `run`'s command status.
fn rows() -> impl Iterator<Item = Exit> {
    Exit::ALL.into_iter().chain([Exit::Command(0)])
}

/// The "Exit codes:" section of `--help`.
pub fn help() -> String {
    let mut text = String::from("Exit codes:");
    let width = rows().map(|exit| exit.label().len()).max().unwrap_or(1);
    for exit in rows() {
        for (n, line) in exit.meaning().iter().enumerate() {
            let label = if n == 0 { exit.label() } else { String::new() };
            text.push_str(&format!("\n  {label:<width$}  {line}"));
        }
    }
    text
}

/// The exit-code table of the READMEs (Markdown).
pub fn readme_table() -> String {
    let mut table = String::from("| code | meaning |\n|---|---|\n");
    for exit in rows() {
        table.push_str(&format!("| {} | {} |\n", exit.label(), exit.meaning().join(" ")));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 126, 127]);
    }

    #[test]
    fn the_help_lists_every_code_once() {
        let help = help();
        for exit in Exit::ALL {
            assert_eq!(help.matches(&format!("\n  {:<5}  ", exit.code())).count(), 1, "{help}");
        }
        assert_eq!(help.matches("\n  other  run: ").count(), 1, "{help}");
    }

    #[test]
    fn a_command_status_is_passed_on_and_a_signal_is_128_plus_its_number() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(Exit::of_command(std::process::ExitStatus::from_raw(7 << 8)).code(), 7);
        assert_eq!(Exit::of_command(std::process::ExitStatus::from_raw(15)).code(), 143);
        assert_eq!(Exit::of_command(std::process::ExitStatus::from_raw(0)), Exit::Command(0));
    }
}
