//! What a command prints when it ends: the result of `hold` and `release` (and its exit code),
//! decision documents for `-o json|yaml`, and errors, always as one `error: ...` line on stderr.

use std::io::Write as _;

use csp_lease::{Error, EventRecord, Report};
use lease_logic::{Outcome, PodRef};

use super::{Exit, Flags, Output};
use crate::render::{self, Document};

/// Prints `error: message` on one line and returns `code`.
pub(super) fn fail(message: &str, code: Exit) -> Exit {
    eprintln!("error: {}", one_line(message));
    code
}

/// `text` with its control characters escaped (`\n`, `\u{0}`...), so that an error is always one
/// line, whatever a server, an annotation or a holder's name holds.
pub(super) fn one_line(text: &str) -> String {
    text.chars().fold(String::with_capacity(text.len()), |mut line, c| {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
        line
    })
}

pub(super) fn print_doc<T: serde::Serialize>(doc: &T, output: Option<Output>) {
    let text = match output {
        Some(Output::Yaml) => serde_yaml_ng::to_string(doc).unwrap_or_default(),
        _ => {
            let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
            text.push('\n');
            text
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
}

pub(super) fn structured(output: Option<Output>) -> bool {
    matches!(output, Some(Output::Json | Output::Yaml))
}

/// The exit code of a `hold` or `release` that failed: [`Exit::Denied`] when an admission
/// webhook denied the write, else [`Exit::Error`].
pub(super) fn write_error(error: &Error) -> Exit {
    if error.is_refused() { Exit::Denied } else { Exit::Error }
}

/// Prints the result of `hold` or `release` and returns its exit code.
pub(super) fn finish(report: &Report, claimant: Option<&PodRef>, flags: &Flags) -> Exit {
    if let Some(EventRecord::Failed(kind, error)) = &report.event {
        eprintln!("Warning: the lease was written, but its {} event was not recorded: {error}", kind.event_reason());
    }
    let code = match report.decision.outcome {
        Outcome::Denied => Exit::Denied,
        Outcome::Invalid => Exit::Invalid,
        Outcome::NeedHolderStatus => Exit::Error,
        _ => Exit::Success,
    };
    let line = render::summary(report, claimant);
    if structured(flags.output) {
        print_doc(&Document { name: &report.csp, decision: &report.decision, hold: None }, flags.output);
    } else if flags.output == Some(Output::Name) {
        println!("{}", render::object_name(&report.csp));
    } else if code == Exit::Success {
        println!("{line}");
        if report.write == csp_lease::Write::DryRunClient
            && let Some(patch) = &report.decision.patch
        {
            println!("patch: {}", patch.to_json());
        }
    }
    if code != Exit::Success {
        eprintln!("error: {}", one_line(&line));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line() {
        assert_eq!(one_line("holder \"a\nb\"\r\0 é"), "holder \"a\\nb\"\\r\\u{0} é");
        assert_eq!(one_line("plain"), "plain");
    }
}
