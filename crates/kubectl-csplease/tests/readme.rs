//! The READMEs' exit-code tables are the one definition in `cli::exit`, as `--help` is.

use kubectl_csplease::cli::exit;

/// The Markdown table that follows the `### Exit codes` heading in `readme`.
fn table(readme: &str) -> String {
    let after = readme.split_once("### Exit codes\n").map_or("", |(_, rest)| rest);
    after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_readme_tables_are_the_exit_codes() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let expected = exit::readme_table();
    for readme in ["README.md", "crates/kubectl-csplease/README.md"] {
        let path = format!("{root}/{readme}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let found = table(&text);
        assert!(
            found == expected,
            "{readme}: the table under \"### Exit codes\" is not the exit codes of `cli::exit`; it should be:\n\n{expected}\nbut it is:\n\n{found}"
        );
    }
}
