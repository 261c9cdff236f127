//! Self-managed certificates (`csplease-wasm serve --cert-mode self-managed`): the webhook makes
//! its own CA and serving certificate, keeps them in one Secret it owns, injects the CA into its
//! ValidatingWebhookConfiguration's `caBundle`, and renews both before they expire.
//!
//! Every replica runs the same reconcile loop, every [`SelfManagedOptions::check_every`]:
//!
//! 1. read the Secret; when it is absent, issue a CA and a serving certificate and create it.
//!    Replicas starting together race on the create: the first writer wins, the others get
//!    `409 AlreadyExists` and read what the winner wrote;
//! 2. when the serving certificate has lived 2/3 of its lifetime, or was issued for other names
//!    than this replica serves, sign a new one with the same CA; when the CA has lived 2/3 of its
//!    lifetime, issue a new CA (the bundle keeps the previous CA until it expires, so replicas
//!    still serving the old certificate stay trusted). The write carries the Secret's
//!    `resourceVersion`: a replica that loses the race gets `409 Conflict` and takes the winner's;
//! 3. write the certificate and key to [`SelfManagedOptions::dir`], where the server's hot reload
//!    picks them up (the files are replaced by rename, never half-written);
//! 4. patch the CA bundle into every webhook of the configuration whose `caBundle` differs (a
//!    `helm upgrade` or `kubectl apply` that drops it is repaired within one period).
//!
//! The lifetimes and dates are kept in the Secret's annotations, so no certificate is parsed:
//! a Secret whose data or annotations do not read is replaced by a fresh one.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

/// The prefix of the Secret's annotations that record the certificates' dates.
const ANNOTATION: &str = "csplease.openebs.io/";
/// How far back a certificate's validity starts, for clocks that lag this one.
const CLOCK_SKEW: i64 = 300;

/// Where the certificates live and what they are for.
#[derive(Debug, Clone)]
pub struct SelfManagedOptions {
    /// The namespace of the Secret that holds the CA and the serving certificate.
    pub secret_namespace: String,
    /// The Secret's name (created when absent).
    pub secret_name: String,
    /// The ValidatingWebhookConfiguration whose webhooks get the CA as `caBundle`; `None` injects
    /// nothing.
    pub webhook_configuration: Option<String>,
    /// The serving certificate's DNS names (the Service's: `NAME.NAMESPACE.svc`...).
    pub dns_names: Vec<String>,
    /// The serving certificate's IP addresses.
    pub ip_addresses: Vec<IpAddr>,
    /// How long a serving certificate is valid; it is renewed after 2/3 of it.
    pub cert_lifetime: Duration,
    /// How long the CA is valid; it is renewed after 2/3 of it.
    pub ca_lifetime: Duration,
    /// How often the Secret and the configuration are checked.
    pub check_every: Duration,
    /// The directory the serving certificate and key are written to (`tls.crt`, `tls.key`).
    pub dir: PathBuf,
}

/// Why the certificates could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A request to the API server failed.
    #[error("{what}: {source}")]
    Api {
        /// What was asked, naming the object.
        what: String,
        /// Why it failed.
        source: kube::Error,
    },
    /// A key or a certificate could not be made.
    #[error("issuing a certificate: {0}")]
    Issue(#[from] rcgen::Error),
    /// The options cannot describe a certificate.
    #[error("{0}")]
    Options(String),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The webhook's certificate manager: one reconcile at start, then [`SelfManaged::run`].
pub struct SelfManaged {
    options: SelfManagedOptions,
    secrets: Api<Secret>,
    configurations: Api<ValidatingWebhookConfiguration>,
    /// The serving certificate last written to the files.
    written: Option<String>,
}

impl SelfManaged {
    /// Loads or creates the Secret, writes the serving certificate's files and injects the CA
    /// (a configuration that does not exist yet is reported and injected later).
    ///
    /// # Errors
    /// [`CertError`] when the Secret cannot be read or written, a certificate cannot be issued or
    /// the files cannot be written.
    pub async fn start(client: Client, options: SelfManagedOptions) -> Result<SelfManaged, CertError> {
        if options.dns_names.is_empty() && options.ip_addresses.is_empty() {
            return Err(CertError::Options("a self-managed certificate needs --cert-dns or --cert-ip".into()));
        }
        std::fs::create_dir_all(&options.dir)
            .map_err(|source| CertError::Write { path: options.dir.clone(), source })?;
        let mut manager = SelfManaged {
            secrets: Api::namespaced(client.clone(), &options.secret_namespace),
            configurations: Api::all(client),
            options,
            written: None,
        };
        manager.reconcile().await?;
        Ok(manager)
    }

    /// The serving certificate's file.
    pub fn cert_path(&self) -> PathBuf {
        self.options.dir.join("tls.crt")
    }

    /// The serving key's file.
    pub fn key_path(&self) -> PathBuf {
        self.options.dir.join("tls.key")
    }

    /// Reconciles every [`SelfManagedOptions::check_every`], forever; failures are reported and
    /// retried at the next period (the certificate being served stays valid meanwhile).
    pub async fn run(mut self) {
        loop {
            tokio::time::sleep(self.options.check_every).await;
            if let Err(e) = self.reconcile().await {
                eprintln!("csplease-wasm: certificates: {e}");
            }
        }
    }

    /// One pass of the loop in the module's documentation.
    async fn reconcile(&mut self) -> Result<(), CertError> {
        let material = self.secret().await?;
        if self.written.as_deref() != Some(material.cert_pem.as_str()) {
            write_atomically(&self.key_path(), material.key_pem.as_bytes())?;
            write_atomically(&self.cert_path(), material.cert_pem.as_bytes())?;
            eprintln!(
                "csplease-wasm: serving the certificate of Secret {}/{} (issued {}, expires {})",
                self.options.secret_namespace, self.options.secret_name, material.cert_issued, material.cert_expires
            );
            self.written = Some(material.cert_pem.clone());
        }
        if let Some(name) = &self.options.webhook_configuration {
            self.inject(name, &material.ca_bundle_pem).await?;
        }
        Ok(())
    }

    /// The Secret's certificates, created or renewed as needed.
    async fn secret(&self) -> Result<Material, CertError> {
        let (namespace, name) = (&self.options.secret_namespace, &self.options.secret_name);
        let api = |what: &str, source| CertError::Api { what: format!("{what} Secret {namespace}/{name}"), source };
        let now = unix_now();
        let sans = self.sans();
        let Some(existing) = self.secrets.get_opt(name).await.map_err(|e| api("reading", e))? else {
            let material = Material::issue(now, &sans, &self.options, None)?;
            return match self.secrets.create(&PostParams::default(), &material.to_secret(namespace, name)).await {
                Ok(_) => {
                    eprintln!("csplease-wasm: created Secret {namespace}/{name} with a new CA");
                    Ok(material)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => self.reread().await,
                Err(e) => Err(api("creating", e)),
            };
        };
        let current = Material::from_secret(&existing);
        let renewed = match &current {
            Ok(material) => match material.renewal(now, &sans) {
                Renewal::Keep => return Ok(material.clone()),
                Renewal::Leaf => material.reissue_leaf(now, &sans, &self.options)?,
                Renewal::Everything => Material::issue(now, &sans, &self.options, Some(material))?,
            },
            Err(why) => {
                eprintln!("csplease-wasm: Secret {namespace}/{name} is not usable ({why}); replacing it");
                Material::issue(now, &sans, &self.options, None)?
            }
        };
        let mut secret = renewed.to_secret(namespace, name);
        secret.metadata.resource_version = existing.metadata.resource_version.clone();
        match self.secrets.replace(name, &PostParams::default(), &secret).await {
            Ok(_) => {
                eprintln!("csplease-wasm: renewed the certificates in Secret {namespace}/{name}");
                Ok(renewed)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => self.reread().await,
            Err(e) => Err(api("renewing", e)),
        }
    }

    /// The Secret as another replica just wrote it.
    async fn reread(&self) -> Result<Material, CertError> {
        let (namespace, name) = (&self.options.secret_namespace, &self.options.secret_name);
        let secret = self
            .secrets
            .get(name)
            .await
            .map_err(|source| CertError::Api { what: format!("reading Secret {namespace}/{name}"), source })?;
        eprintln!("csplease-wasm: another replica wrote Secret {namespace}/{name} first; using its certificates");
        Material::from_secret(&secret).map_err(CertError::Options)
    }

    /// Sets `bundle` as the `caBundle` of every webhook of configuration `name` that lacks it.
    async fn inject(&self, name: &str, bundle: &str) -> Result<(), CertError> {
        let api = |what: &str, source| CertError::Api {
            what: format!("{what} ValidatingWebhookConfiguration {name}"),
            source,
        };
        let Some(configuration) = self.configurations.get_opt(name).await.map_err(|e| api("reading", e))? else {
            eprintln!("csplease-wasm: ValidatingWebhookConfiguration {name} does not exist (yet); will retry");
            return Ok(());
        };
        let webhooks = configuration.webhooks.unwrap_or_default();
        let stale: Vec<&str> = webhooks
            .iter()
            .filter(|w| w.client_config.ca_bundle.as_ref().is_none_or(|b| b.0 != bundle.as_bytes()))
            .map(|w| w.name.as_str())
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        // A strategic merge patch: `webhooks` merge by name, so only the caBundles change.
        let ca_bundle = ByteString(bundle.as_bytes().to_vec());
        let patch = serde_json::json!({
            "webhooks": stale.iter().map(|n| serde_json::json!({"name": n, "clientConfig": {"caBundle": ca_bundle}})).collect::<Vec<_>>()
        });
        self.configurations
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(|e| api("patching", e))?;
        eprintln!("csplease-wasm: injected the CA into ValidatingWebhookConfiguration {name} ({})", stale.join(", "));
        Ok(())
    }

    /// The names the serving certificate must carry, in a stable order.
    fn sans(&self) -> Vec<String> {
        let mut sans = self.options.dns_names.clone();
        sans.extend(self.options.ip_addresses.iter().map(IpAddr::to_string));
        sans.sort();
        sans.dedup();
        sans
    }
}

/// What is due for the certificates in a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    /// Nothing: both are valid and not yet 2/3 through their lifetimes.
    Keep,
    /// A new serving certificate from the same CA.
    Leaf,
    /// A new CA and serving certificate.
    Everything,
}

/// The CA and serving certificate, as the Secret holds them; times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Material {
    /// The CAs to trust, PEM: the current CA, then the previous one while it is valid.
    ca_bundle_pem: String,
    ca_key_pem: String,
    ca_issued: i64,
    ca_expires: i64,
    cert_pem: String,
    key_pem: String,
    cert_issued: i64,
    cert_expires: i64,
    /// The serving certificate's names, comma-separated.
    sans: String,
}

impl Material {
    /// A new CA (keeping `previous`'s current CA in the bundle while it is valid) and a serving
    /// certificate signed by it.
    fn issue(
        now: i64,
        sans: &[String],
        options: &SelfManagedOptions,
        previous: Option<&Material>,
    ) -> Result<Material, CertError> {
        let ca_key = KeyPair::generate()?;
        let ca_expires = now.saturating_add(seconds(options.ca_lifetime));
        let ca_cert = ca_params(now, ca_expires)?.self_signed(&ca_key)?;
        let mut ca_bundle_pem = ca_cert.pem();
        if let Some(previous) = previous.filter(|p| p.ca_expires > now) {
            ca_bundle_pem.push_str(first_pem(&previous.ca_bundle_pem));
        }
        let ca = Material {
            ca_bundle_pem,
            ca_key_pem: ca_key.serialize_pem(),
            ca_issued: now,
            ca_expires,
            cert_pem: String::new(),
            key_pem: String::new(),
            cert_issued: 0,
            cert_expires: 0,
            sans: String::new(),
        };
        ca.reissue_leaf(now, sans, options)
    }

    /// This CA with a new serving certificate for `sans`, valid for the configured lifetime but
    /// never past the CA.
    fn reissue_leaf(&self, now: i64, sans: &[String], options: &SelfManagedOptions) -> Result<Material, CertError> {
        let ca_key = KeyPair::from_pem(&self.ca_key_pem)?;
        let issuer = Issuer::new(ca_params(self.ca_issued, self.ca_expires)?, ca_key);
        let expires = now.saturating_add(seconds(options.cert_lifetime)).min(self.ca_expires);
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name.push(DnType::CommonName, sans.first().map_or("csplease-webhook", String::as_str));
        for san in sans {
            leaf.subject_alt_names.push(match san.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(san.as_str().try_into()?),
            });
        }
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        leaf.not_before = datetime(now - CLOCK_SKEW)?;
        leaf.not_after = datetime(expires)?;
        leaf.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = leaf.signed_by(&key, &issuer)?;
        Ok(Material {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_issued: now,
            cert_expires: expires,
            sans: sans.join(","),
            ..self.clone()
        })
    }

    /// What is due at `now` for a replica serving `sans`.
    fn renewal(&self, now: i64, sans: &[String]) -> Renewal {
        let due = |issued: i64, expires: i64| now >= issued + (expires - issued) * 2 / 3;
        if due(self.ca_issued, self.ca_expires) {
            Renewal::Everything
        } else if due(self.cert_issued, self.cert_expires) || self.sans != sans.join(",") {
            Renewal::Leaf
        } else {
            Renewal::Keep
        }
    }

    /// Reads the Secret's data and annotations; the error says what is missing.
    fn from_secret(secret: &Secret) -> Result<Material, String> {
        let empty = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&empty);
        let text = |key: &str| {
            let bytes = data.get(key).ok_or_else(|| format!("no {key}"))?;
            String::from_utf8(bytes.0.clone()).map_err(|_| format!("{key} is not text"))
        };
        let annotations = secret.metadata.annotations.clone().unwrap_or_default();
        let annotation = |key: &str| {
            annotations.get(&format!("{ANNOTATION}{key}")).ok_or_else(|| format!("no annotation {ANNOTATION}{key}"))
        };
        let time = |key: &str| {
            annotation(key)?.parse::<i64>().map_err(|_| format!("annotation {ANNOTATION}{key} is not a number"))
        };
        Ok(Material {
            ca_bundle_pem: text("ca.crt")?,
            ca_key_pem: text("ca.key")?,
            ca_issued: time("ca-issued")?,
            ca_expires: time("ca-expires")?,
            cert_pem: text("tls.crt")?,
            key_pem: text("tls.key")?,
            cert_issued: time("cert-issued")?,
            cert_expires: time("cert-expires")?,
            sans: annotation("cert-sans")?.clone(),
        })
    }

    /// The Secret `namespace/name` holding this material (a `kubernetes.io/tls` Secret, plus
    /// `ca.crt` and `ca.key`).
    fn to_secret(&self, namespace: &str, name: &str) -> Secret {
        let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
        let data = BTreeMap::from([
            ("tls.crt".to_owned(), bytes(&self.cert_pem)),
            ("tls.key".to_owned(), bytes(&self.key_pem)),
            ("ca.crt".to_owned(), bytes(&self.ca_bundle_pem)),
            ("ca.key".to_owned(), bytes(&self.ca_key_pem)),
        ]);
        let annotations = [
            ("ca-issued", self.ca_issued.to_string()),
            ("ca-expires", self.ca_expires.to_string()),
            ("cert-issued", self.cert_issued.to_string()),
            ("cert-expires", self.cert_expires.to_string()),
            ("cert-sans", self.sans.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{ANNOTATION}{k}"), v))
        .collect();
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_owned(), "csplease-wasm".to_owned())])),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_owned()),
            data: Some(data),
            ..Secret::default()
        }
    }
}

/// The CA's parameters: rebuilt the same from its dates, so the CA key alone can sign again.
fn ca_params(issued: i64, expires: i64) -> Result<CertificateParams, CertError> {
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, format!("csplease-webhook CA {issued}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    ca.not_before = datetime(issued - CLOCK_SKEW)?;
    ca.not_after = datetime(expires)?;
    Ok(ca)
}

/// The first PEM block of `bundle`.
fn first_pem(bundle: &str) -> &str {
    const END: &str = "-----END CERTIFICATE-----\n";
    bundle.find(END).map_or(bundle, |at| &bundle[..at + END.len()])
}

fn datetime(unix: i64) -> Result<time::OffsetDateTime, CertError> {
    time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| CertError::Options(format!("a date out of range: {e}")))
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, seconds)
}

/// Writes `bytes` to a temporary file beside `path` (mode 0600) and renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let temporary = path.with_extension("new");
    let error = |source| CertError::Write { path: path.to_path_buf(), source };
    let _ = std::fs::remove_file(&temporary);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary).map_err(error)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(cert_lifetime: u64, ca_lifetime: u64) -> SelfManagedOptions {
        SelfManagedOptions {
            secret_namespace: "csplease".into(),
            secret_name: "csplease-webhook-tls".into(),
            webhook_configuration: None,
            dns_names: vec!["csplease-webhook.csplease.svc".into()],
            ip_addresses: vec![],
            cert_lifetime: Duration::from_secs(cert_lifetime),
            ca_lifetime: Duration::from_secs(ca_lifetime),
            check_every: Duration::from_secs(60),
            dir: PathBuf::new(),
        }
    }

    fn sans() -> Vec<String> {
        vec!["127.0.0.1".into(), "csplease-webhook.csplease.svc".into()]
    }

    /// Whether `material`'s serving certificate chains to its bundle for `name` at `now`.
    fn verifies(material: &Material, name: &str, now: i64) -> Result<(), rustls::Error> {
        use rustls::client::danger::ServerCertVerifier as _;
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(material.ca_bundle_pem.as_bytes()) {
            roots.add(ca.map_err(|e| rustls::Error::General(e.to_string()))?)?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(std::sync::Arc::new(roots), provider)
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let leaf = CertificateDer::from_pem_slice(material.cert_pem.as_bytes())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let name = ServerName::try_from(name.to_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or_default()));
        verifier.verify_server_cert(&leaf, &[], &name, &[], at).map(drop)
    }

    #[test]
    fn a_new_certificate_is_trusted_for_its_names_only() {
        let now = 1_800_000_000;
        let material = Material::issue(now, &sans(), &options(3600, 36000), None).expect("issued");
        verifies(&material, "csplease-webhook.csplease.svc", now).expect("the DNS name verifies");
        verifies(&material, "127.0.0.1", now).expect("the IP address verifies");
        assert!(verifies(&material, "other.csplease.svc", now).is_err());
        assert!(verifies(&material, "127.0.0.1", now + 3601).is_err(), "expired");
    }

    #[test]
    fn the_leaf_is_renewed_after_two_thirds_of_its_lifetime_by_the_same_ca() {
        let now = 1_800_000_000;
        let material = Material::issue(now, &sans(), &options(3000, 30000), None).expect("issued");
        assert_eq!(material.renewal(now + 1999, &sans()), Renewal::Keep);
        assert_eq!(material.renewal(now + 2000, &sans()), Renewal::Leaf);
        let renewed = material.reissue_leaf(now + 2000, &sans(), &options(3000, 30000)).expect("renewed");
        assert_eq!(renewed.ca_bundle_pem, material.ca_bundle_pem, "the caBundle does not change");
        assert_ne!(renewed.cert_pem, material.cert_pem);
        verifies(&renewed, "127.0.0.1", now + 4000).expect("the renewed certificate chains to the same CA");
    }

    #[test]
    fn other_names_reissue_the_leaf_and_an_old_ca_everything() {
        let now = 1_800_000_000;
        let material = Material::issue(now, &sans(), &options(3000, 30000), None).expect("issued");
        assert_eq!(material.renewal(now, &["other.svc".to_owned()]), Renewal::Leaf);
        assert_eq!(material.renewal(now + 20000, &sans()), Renewal::Everything);
        let old = material.reissue_leaf(now + 19000, &sans(), &options(3000, 30000)).expect("a leaf of the old CA");
        let renewed = Material::issue(now + 20000, &sans(), &options(3000, 30000), Some(&old)).expect("renewed");
        assert!(renewed.ca_bundle_pem.ends_with(first_pem(&material.ca_bundle_pem)), "the old CA stays trusted");
        assert_eq!(renewed.ca_bundle_pem.matches("BEGIN CERTIFICATE").count(), 2);
        // A replica still serving the old CA's leaf is trusted through the new bundle.
        let old_leaf_new_bundle = Material { ca_bundle_pem: renewed.ca_bundle_pem.clone(), ..old };
        verifies(&old_leaf_new_bundle, "127.0.0.1", now + 20000).expect("old leaf");
        verifies(&renewed, "127.0.0.1", now + 20000).expect("new leaf");
    }

    #[test]
    fn the_secret_round_trips_and_a_foreign_one_is_refused() {
        let material = Material::issue(1_800_000_000, &sans(), &options(3000, 30000), None).expect("issued");
        let secret = material.to_secret("csplease", "tls");
        assert_eq!(Material::from_secret(&secret), Ok(material));
        let foreign = Secret { data: secret.data, ..Secret::default() };
        assert_eq!(Material::from_secret(&foreign), Err("no annotation csplease.openebs.io/ca-issued".to_owned()));
    }
}
