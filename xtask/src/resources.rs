//! What a failed step had to work with: free disk under the target directory and available
//! memory. A link that fails for want of either prints only the linker's command line, which can
//! push the reason out of a truncated CI log; this line comes last.

use std::path::Path;
use std::process::Command;

/// One line: `disk free under DIR: X GiB; memory available: Y GiB of Z GiB`, leaving out what
/// could not be read.
pub fn summary(dir: &Path) -> String {
    let disk = free_disk_kib(dir).map(|kib| format!("disk free under {}: {}", dir.display(), gib(kib)));
    let memory = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        Some(format!("memory available: {} of {}", gib(field("MemAvailable")?), gib(field("MemTotal")?)))
    });
    let parts: Vec<String> = disk.into_iter().chain(memory).collect();
    if parts.is_empty() { "disk and memory: unknown".to_owned() } else { parts.join("; ") }
}

/// Free KiB on the filesystem holding `dir`, from POSIX `df -Pk` (the standard library has no
/// `statvfs`, and this crate forbids `unsafe`).
fn free_disk_kib(dir: &Path) -> Option<u64> {
    let output = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

fn gib(kib: u64) -> String {
    let gib = kib as f64 / (1024.0 * 1024.0);
    format!("{gib:.1} GiB")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_names_disk_and_memory_on_linux() {
        let line = super::summary(std::path::Path::new("."));
        assert!(line.starts_with("disk free under .: ") && line.contains("; memory available: "), "{line}");
        assert!(line.ends_with(" GiB"), "{line}");
    }
}
