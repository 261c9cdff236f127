//! The webhook's TLS: a PEM certificate chain and key, re-read when either file changes, so a
//! rotated certificate (cert-manager, a re-mounted Secret) is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::ServeError;

/// How often the certificate files are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// Accepts TLS connections with the current certificate.
#[derive(Clone)]
pub(super) struct Acceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    current: Arc<Current>,
}

#[derive(Debug)]
struct Current {
    cert: PathBuf,
    key: PathBuf,
    served: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

/// The files' modification times when they were read.
type Stamp = (Option<SystemTime>, Option<SystemTime>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served.read().unwrap_or_else(PoisonError::into_inner).0.clone())
    }
}

impl Acceptor {
    /// Reads the certificate and key and sets up TLS 1.2 and 1.3 with ALPN `h2` and `http/1.1`.
    pub(super) fn load(cert: &Path, key: &Path) -> Result<Acceptor, ServeError> {
        let stamp = stamp(cert, key);
        let certified = read(cert, key)?;
        let current = Arc::new(Current {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            served: RwLock::new((certified, stamp)),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Acceptor { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)), current })
    }

    pub(super) async fn accept(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.acceptor.accept(stream).await
    }

    /// Re-reads the files whenever their modification times change; a pair that does not load
    /// (a half-written rotation) is reported and the previous certificate kept.
    pub(super) async fn watch(self) {
        let current = self.current;
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            let now = stamp(&current.cert, &current.key);
            if now == current.served.read().unwrap_or_else(PoisonError::into_inner).1 {
                continue;
            }
            match read(&current.cert, &current.key) {
                Ok(certified) => {
                    *current.served.write().unwrap_or_else(PoisonError::into_inner) = (certified, now);
                    eprintln!("csplease-wasm: reloaded the TLS certificate {}", current.cert.display());
                }
                Err(e) => eprintln!("csplease-wasm: keeping the previous TLS certificate: {e}"),
            }
        }
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

fn read(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, ServeError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Tls(format!("reading the certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!("{} holds no PEM certificate", cert.display())));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Tls(format!("reading the private key {}: {e}", key.display())))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| ServeError::Tls(format!("the private key {}: {e}", key.display())))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| ServeError::Tls(format!("{} and {} do not match: {e}", cert.display(), key.display())))?;
    Ok(Arc::new(certified))
}
