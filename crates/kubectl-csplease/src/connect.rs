//! Reaching the cluster the way kubectl does: kubeconfig, context, cluster, user, impersonation
//! and request timeout; in a pod without a kubeconfig, the in-cluster service account.

use std::path::PathBuf;
use std::time::Duration;

use kube::Client;
use kube::client::ClientBuilder;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use crate::trace::RequestLog;
use csp_lease::{CspLease, Error};

/// kubectl's connection flags.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `--kubeconfig`: this file instead of `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--as`: the user to impersonate.
    pub impersonate: Option<String>,
    /// `--as-group`: groups to impersonate (repeatable).
    pub impersonate_groups: Vec<String>,
    /// `--request-timeout`: the limit on each request (`None`: no limit).
    pub request_timeout: Option<Duration>,
    /// `-v`: 6 and above log every request.
    pub verbosity: u8,
}

/// A connected client and what it knows of its configuration.
#[derive(Clone)]
pub struct Connected {
    /// The client.
    pub client: Client,
    /// The server URL, for messages.
    pub server: String,
    /// The context's namespace (`default` when it names none).
    pub namespace: String,
    /// The request log shared by every request of this client.
    pub log: RequestLog,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected").field("server", &self.server).field("namespace", &self.namespace).finish()
    }
}

impl Connected {
    /// Leases on this client's cluster, naming its server in errors.
    pub fn lease(&self) -> CspLease {
        CspLease::new(self.client.clone()).with_server(self.server.clone())
    }
}

impl Connection {
    /// Loads the configuration and builds a client. Sends no request.
    pub async fn connect(&self) -> Result<Connected, Error> {
        let mut config = self.config().await?;
        if let Some(user) = &self.impersonate {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !self.impersonate_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(self.impersonate_groups.clone());
        }
        if let Some(limit) = self.request_timeout {
            config.connect_timeout = Some(config.connect_timeout.map_or(limit, |c| c.min(limit)));
        }
        let server = config.cluster_url.to_string().trim_end_matches('/').to_owned();
        let namespace = config.default_namespace.clone();
        let log = RequestLog::new(server.clone(), self.verbosity, self.request_timeout);
        let builder = ClientBuilder::try_from(config).map_err(|e| match e {
            kube::Error::InferKubeconfig(e) => Error::Config { detail: e.to_string() },
            other => Error::Tls { server: server.clone(), detail: other.to_string() },
        })?;
        let client = builder.with_layer(&log).build();
        Ok(Connected { client, server, namespace, log })
    }

    async fn config(&self) -> Result<Config, Error> {
        let options =
            KubeConfigOptions { context: self.context.clone(), cluster: self.cluster.clone(), user: self.user.clone() };
        let config_error = |e: kube::config::KubeconfigError| Error::Config { detail: e.to_string() };
        if let Some(path) = &self.kubeconfig {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| Error::Config { detail: format!("{}: {e}", path.display()) })?;
            return Config::from_custom_kubeconfig(file, &options).await.map_err(config_error);
        }
        let explicit = options.context.is_some() || options.cluster.is_some() || options.user.is_some();
        match Config::from_kubeconfig(&options).await {
            Ok(config) => Ok(config),
            Err(e) if explicit => Err(config_error(e)),
            // No kubeconfig at all: a pool pod uses its service account, as kubectl does.
            Err(kubeconfig) => Config::incluster().map_err(|in_cluster| Error::Config {
                detail: format!("no kubeconfig ({kubeconfig}) and not in a cluster ({in_cluster})"),
            }),
        }
    }
}
