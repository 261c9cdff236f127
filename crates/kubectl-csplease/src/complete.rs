//! Completion through kubectl: what `kubectl_complete-csplease` prints.
//!
//! kubectl (1.26 and later) completes a plugin's arguments by running
//! `kubectl_complete-<plugin>` from `PATH` with the words typed after the plugin's name, the last
//! one being the word to complete (`""` for a new word). It expects cobra's `__complete`
//! protocol: one candidate a line (`VALUE` or `VALUE<TAB>DESCRIPTION`), then `:DIRECTIVE` (4: no
//! file completion). A leading `__complete` word, as a cobra program is called, is accepted too.
//!
//! Subcommands, flags (once the word starts with `-`, as cobra offers them) and their fixed values come from the clap command tree ([`Cli`]) through
//! clap_complete's completion engine, so they never drift from what the plugin parses. Two kinds of
//! value come from the cluster, through a [`Lookup`]: CStorPool names (`status`, `hold`, `release`)
//! and pod names for `--holder` (in `-n`'s namespace, else `$NAMESPACE`, else the context's; or
//! `NAMESPACE/POD` once a `/` is typed). The connection flags already typed (`--kubeconfig`,
//! `--context`, `--cluster`, `--user`, `--as`, `--as-group`, `--request-timeout`) are used for it.
//! A failure (no cluster, no kubeconfig, a refusal) gives no candidates and directive 4, and
//! nothing on standard error.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgMatches, CommandFactory};
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter, CompletionCandidate};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use crate::cli::Cli;
use crate::connect::Connection;

/// cobra's `ShellCompDirectiveNoFileComp`: the shell offers no file names.
pub const NO_FILE_COMPLETION: u32 = 4;

/// cobra's `ShellCompDirectiveDefault`: the shell completes as it would (file names): after
/// `run`'s `--`, where the words are the command's, not csplease's.
pub const SHELL_COMPLETION: u32 = 0;

/// The limit on a completion's cluster lookup when `--request-timeout` is not typed: a TAB must not
/// hang on an unreachable server.
pub const LOOKUP_LIMIT: Duration = Duration::from_secs(5);

/// Where the cluster's names come from. [`ClusterLookup`] asks the API server; tests may give
/// fixed names.
pub trait Lookup: Send + Sync {
    /// The CStorPools' names, or an error message.
    fn csps(&self, typed: &Typed) -> Result<Vec<String>, String>;
    /// The names of the pods in `namespace`, or an error message.
    fn pods(&self, typed: &Typed, namespace: &str) -> Result<Vec<String>, String>;
}

/// What the words before the one being completed say about the connection and the namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typed {
    /// The connection flags typed.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--as`.
    pub as_user: Option<String>,
    /// `--as-group`.
    pub as_group: Vec<String>,
    /// `--request-timeout` (zero: not limited by the user).
    pub request_timeout: Option<Duration>,
    /// `-n` / `--namespace`.
    pub namespace: Option<String>,
}

impl Typed {
    /// Reads the flags from `words` (the plugin's words before the one being completed), as clap
    /// parses them, ignoring whatever else is incomplete or wrong.
    pub fn from_words(words: &[OsString]) -> Typed {
        let argv = std::iter::once(OsString::from("kubectl-csplease")).chain(words.iter().cloned());
        let Ok(matches) = Cli::command().ignore_errors(true).try_get_matches_from(argv) else {
            return Typed::default();
        };
        // Global flags are recorded in the deepest subcommand's matches.
        let mut deepest = &matches;
        while let Some((_, sub)) = deepest.subcommand() {
            deepest = sub;
        }
        let text = |id: &str| one::<String>(deepest, id).or_else(|| one::<String>(&matches, id));
        let as_group = deepest
            .try_get_many::<String>("as_group")
            .ok()
            .flatten()
            .map(|groups| groups.cloned().collect())
            .unwrap_or_default();
        Typed {
            kubeconfig: one::<PathBuf>(deepest, "kubeconfig").or_else(|| one::<PathBuf>(&matches, "kubeconfig")),
            context: text("context"),
            cluster: text("cluster"),
            user: text("user"),
            as_user: text("as_user"),
            as_group,
            request_timeout: one::<Duration>(deepest, "request_timeout").filter(|d| !d.is_zero()),
            namespace: text("namespace"),
        }
    }

    /// The connection these flags describe, limited to [`LOOKUP_LIMIT`] unless
    /// `--request-timeout` says otherwise.
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
            impersonate: self.as_user.clone(),
            impersonate_groups: self.as_group.clone(),
            request_timeout: Some(self.request_timeout.unwrap_or(LOOKUP_LIMIT)),
            verbosity: 0,
        }
    }
}

fn one<T: Clone + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> Option<T> {
    matches.try_get_one::<T>(id).ok().flatten().cloned()
}

/// Completes `args` as kubectl passes them to `kubectl_complete-csplease` (the first is the
/// program's name; an optional `__complete` follows) and returns what to print on standard output.
pub fn run<I, T>(args: I, lookup: Arc<dyn Lookup>) -> String
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut words: Vec<OsString> = args.into_iter().skip(1).map(Into::into).collect();
    if words.first().is_some_and(|w| w == "__complete") {
        words.remove(0);
    }
    if words.iter().rev().skip(1).any(|w| w == "--") {
        return format!(":{SHELL_COMPLETION}\n");
    }
    format(&candidates(words, lookup))
}

/// The candidates for the last of `words` (the plugin's words; none means one empty word).
pub fn candidates(mut words: Vec<OsString>, lookup: Arc<dyn Lookup>) -> Vec<CompletionCandidate> {
    if words.is_empty() {
        words.push(OsString::new());
    }
    let typed = Arc::new(Typed::from_words(&words[..words.len() - 1]));
    let csps = {
        let (lookup, typed) = (lookup.clone(), typed.clone());
        ArgValueCandidates::new(move || names(lookup.csps(&typed)))
    };
    let holders = ArgValueCompleter::new(move |current: &OsStr| holder_candidates(&*lookup, &typed, current));
    let mut command = Cli::command().mut_arg("holder", |arg| arg.add(holders));
    // Every subcommand with a CSP argument: status, hold, run, release.
    let with_csp: Vec<String> = command
        .get_subcommands()
        .filter(|c| c.get_arguments().any(|a| a.get_id() == "csp"))
        .map(|c| c.get_name().to_owned())
        .collect();
    for sub in with_csp {
        let csps = csps.clone();
        command = command.mut_subcommand(sub, |c| c.mut_arg("csp", |arg| arg.add(csps)));
    }
    let index = words.len();
    // As cobra does: flags are offered once the word starts with `-`.
    let flags = words.last().is_some_and(|w| w.to_string_lossy().starts_with('-'));
    let argv: Vec<OsString> = std::iter::once(OsString::from("kubectl-csplease")).chain(words).collect();
    clap_complete::engine::complete(&mut command, argv, index, std::env::current_dir().ok().as_deref())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !c.is_hide_set() && (flags || !c.get_value().to_string_lossy().starts_with('-')))
        .collect()
}

fn names(found: Result<Vec<String>, String>) -> Vec<CompletionCandidate> {
    found.unwrap_or_default().into_iter().map(CompletionCandidate::new).collect()
}

/// `--holder`'s candidates: `POD` in the namespace typed or implied, or `NAMESPACE/POD` once the
/// word has a `/`.
fn holder_candidates(lookup: &dyn Lookup, typed: &Typed, current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let (prefix, namespace) = match current.split_once('/') {
        Some((namespace, _)) => (format!("{namespace}/"), Some(namespace.to_owned())),
        None => (String::new(), typed.namespace.clone().or_else(env_namespace)),
    };
    let found = match namespace {
        Some(namespace) => lookup.pods(typed, &namespace),
        None => lookup.pods(typed, ""),
    };
    found
        .unwrap_or_default()
        .into_iter()
        .map(|pod| format!("{prefix}{pod}"))
        .filter(|candidate| candidate.starts_with(current.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

fn env_namespace() -> Option<String> {
    std::env::var("NAMESPACE").ok().filter(|ns| !ns.is_empty())
}

/// cobra's `__complete` output: one candidate a line (`VALUE<TAB>HELP` when it has help), then
/// `:4`.
pub fn format(candidates: &[CompletionCandidate]) -> String {
    let mut out = String::new();
    for candidate in candidates {
        let value = candidate.get_value().to_string_lossy();
        // A value with a line break would break the protocol; such a name cannot exist anyway.
        if value.contains(['\n', '\t']) {
            continue;
        }
        out.push_str(&value);
        if let Some(help) = candidate.get_help() {
            let help = help.to_string();
            let first = help.lines().next().unwrap_or_default();
            if !first.is_empty() {
                out.push('\t');
                out.push_str(first);
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(":{NO_FILE_COMPLETION}\n"));
    out
}

/// Names from the API server, connecting as the typed flags say (one request per lookup).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClusterLookup;

impl ClusterLookup {
    fn block_on<T>(typed: &Typed, ask: impl AsyncFnOnce(crate::Connected) -> Result<T, String>) -> Result<T, String> {
        let connection = typed.connection();
        let limit = connection.request_timeout.unwrap_or(LOOKUP_LIMIT);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let connected = connection.connect().await.map_err(|e| e.to_string())?;
            tokio::time::timeout(limit, ask(connected)).await.map_err(|_| "timed out".to_owned())?
        })
    }
}

impl Lookup for ClusterLookup {
    fn csps(&self, typed: &Typed) -> Result<Vec<String>, String> {
        ClusterLookup::block_on(typed, async |connected| {
            let pools = connected.lease().list(false).await.map_err(|e| e.to_string())?;
            Ok(pools.iter().map(|pool| pool.name().to_owned()).collect())
        })
    }

    fn pods(&self, typed: &Typed, namespace: &str) -> Result<Vec<String>, String> {
        ClusterLookup::block_on(typed, async |connected| {
            let namespace = if namespace.is_empty() { connected.namespace.as_str() } else { namespace };
            let pods: Api<Pod> = Api::namespaced(connected.client.clone(), namespace);
            let list = pods.list_metadata(&ListParams::default()).await.map_err(|e| e.to_string())?;
            let mut names: Vec<String> = list.items.into_iter().filter_map(|pod| pod.metadata.name).collect();
            names.sort();
            Ok(names)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed names, or a failure as when no cluster answers.
    struct Fixed {
        csps: Result<Vec<String>, String>,
        pods: Vec<(&'static str, &'static str)>,
    }

    impl Lookup for Fixed {
        fn csps(&self, _: &Typed) -> Result<Vec<String>, String> {
            self.csps.clone()
        }
        fn pods(&self, _: &Typed, namespace: &str) -> Result<Vec<String>, String> {
            self.csps.as_ref().map_err(Clone::clone)?;
            let namespace = if namespace.is_empty() { "default" } else { namespace };
            Ok(self.pods.iter().filter(|(ns, _)| *ns == namespace).map(|(_, pod)| (*pod).to_owned()).collect())
        }
    }

    fn cluster() -> Arc<dyn Lookup> {
        Arc::new(Fixed {
            csps: Ok(vec!["cstor-pool-a".into(), "cstor-pool-b".into(), "other".into()]),
            pods: vec![("default", "web-0"), ("pools", "pool-a-0"), ("pools", "pool-b-0")],
        })
    }

    fn no_cluster() -> Arc<dyn Lookup> {
        Arc::new(Fixed { csps: Err("connection refused".into()), pods: vec![] })
    }

    fn complete(lookup: Arc<dyn Lookup>, words: &[&str]) -> String {
        run(std::iter::once("kubectl_complete-csplease").chain(words.iter().copied()), lookup)
    }

    #[test]
    fn subcommands_come_from_clap() {
        let subcommands: Vec<String> = Cli::command()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| format!("{}\t{}", c.get_name(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
            .collect();
        assert_eq!(complete(cluster(), &[""]), format!("{}\n:4\n", subcommands.join("\n")));
        insta::assert_snapshot!(complete(cluster(), &["re"]), @r"
        release	Give up the claimant's lease; --force breaks anyone's and says whose
        :4
        ");
        assert_eq!(complete(cluster(), &["__complete", "re"]), complete(cluster(), &["re"]));
    }

    #[test]
    fn flags_and_their_values() {
        let flags = complete(cluster(), &["hold", "--w"]);
        // The description is the flag's own help, taken from the clap definition.
        let hold = Cli::command().find_subcommand("hold").cloned().expect("hold");
        let wait = hold.get_arguments().find(|a| a.get_id() == "wait").expect("--wait");
        let help = wait.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert_eq!(flags, format!("--wait\t{help}\n:4\n"));
        assert_eq!(
            complete(cluster(), &["status", "-o", "j"]),
            "json\tThe decision document(s) as JSON, with the CStorPool's name\n:4\n"
        );
        assert_eq!(complete(cluster(), &["completion", ""]), "bash\tbash\nzsh\tzsh\nfish\tfish\n:4\n");
    }

    #[test]
    fn after_runs_double_dash_the_shell_completes() {
        assert_eq!(complete(cluster(), &["run", "cstor-pool-a", "--", ""]), ":0\n");
        assert_eq!(complete(cluster(), &["run", "cstor-pool-a", "--", "ls", "-"]), ":0\n");
        assert_eq!(complete(cluster(), &["run", "cstor"]), "cstor-pool-a\ncstor-pool-b\n:4\n");
    }

    #[test]
    fn csp_names_for_status_hold_run_and_release() {
        for sub in ["status", "hold", "run", "release"] {
            assert_eq!(complete(cluster(), &[sub, "cstor"]), "cstor-pool-a\ncstor-pool-b\n:4\n", "{sub}");
        }
        assert_eq!(complete(cluster(), &["hold", "--force", "o"]), "other\n:4\n");
        assert_eq!(complete(cluster(), &["decide", ""]), ":4\n");
    }

    #[test]
    fn pods_for_holder_in_the_namespace_typed() {
        assert_eq!(complete(cluster(), &["hold", "x", "-n", "pools", "--holder", ""]), "pool-a-0\npool-b-0\n:4\n");
        assert_eq!(complete(cluster(), &["-n", "pools", "hold", "x", "--holder", "pool-b"]), "pool-b-0\n:4\n");
        assert_eq!(complete(cluster(), &["hold", "x", "--holder", "pools/pool-a"]), "pools/pool-a-0\n:4\n");
    }

    #[test]
    fn no_cluster_gives_no_candidates_and_no_file_completion() {
        assert_eq!(complete(no_cluster(), &["hold", ""]), ":4\n");
        assert_eq!(complete(no_cluster(), &["hold", "x", "--holder", ""]), ":4\n");
    }

    #[test]
    fn the_connection_flags_typed_are_read() {
        let words: Vec<OsString> =
            ["--kubeconfig", "/k", "hold", "--context=c", "-n", "ns", "--request-timeout", "2s", "x"]
                .map(OsString::from)
                .into();
        let typed = Typed::from_words(&words);
        assert_eq!(typed.kubeconfig, Some(PathBuf::from("/k")));
        assert_eq!(typed.context.as_deref(), Some("c"));
        assert_eq!(typed.namespace.as_deref(), Some("ns"));
        assert_eq!(typed.connection().request_timeout, Some(Duration::from_secs(2)));
        assert_eq!(Typed::from_words(&[]).connection().request_timeout, Some(LOOKUP_LIMIT));
    }
}
