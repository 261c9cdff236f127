//! The control plane's certificates and keys, made with the `openssl` command.
//!
//! One throwaway CA signs everything: etcd's serving certificate, the API server's
//! serving certificate and its etcd client certificate, and the two client
//! identities. Keys are ECDSA P-256 (fast to generate). The service-account
//! signing key is a separate P-256 key pair.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{ClusterError, io_error};

/// Subject of the admin identity's certificate: in `system:masters`, so it may do anything.
pub const ADMIN_SUBJECT: &str = "/O=system:masters/CN=csplease-admin";
/// User name of the restricted identity (the certificate's CN).
pub const RESTRICTED_USER: &str = "csplease-plugin";
/// Group of the restricted identity (the certificate's O); `deploy/rbac.yaml` binds it.
pub const RESTRICTED_GROUP: &str = "csplease:plugin";

/// Days every certificate is valid for; the cluster is throwaway.
const DAYS: &str = "30";

const OPENSSL_CNF: &str = r#"[req]
distinguished_name = dn
prompt = no

[dn]

[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash

[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1

[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"#;

/// A certificate and its private key, both PEM files.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Every file of the control plane's PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate every client and server trusts.
    pub ca_cert: PathBuf,
    /// etcd's serving certificate.
    pub etcd_server: KeyPair,
    /// kube-apiserver's serving certificate.
    pub apiserver: KeyPair,
    /// kube-apiserver's client certificate for etcd.
    pub apiserver_etcd_client: KeyPair,
    /// The admin identity (`system:masters`).
    pub admin: KeyPair,
    /// The restricted identity, with only `deploy/rbac.yaml`'s permissions.
    pub restricted: KeyPair,
    /// The service-account token signing key (private).
    pub service_account_key: PathBuf,
    /// The service-account token verification key (public).
    pub service_account_pub: PathBuf,
}

/// Generates a fresh PKI in `dir` (created if missing).
pub fn generate(dir: &Path) -> Result<Pki, ClusterError> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let cnf = dir.join("openssl.cnf");
    fs::write(&cnf, OPENSSL_CNF).map_err(|e| io_error(&cnf, e))?;

    let ca = KeyPair { cert: dir.join("ca.crt"), key: dir.join("ca.key") };
    openssl(
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            DAYS,
            "-subj",
            "/CN=csplease-ca",
            "-extensions",
            "ca",
        ],
        &cnf,
        &[("-keyout", &ca.key), ("-out", &ca.cert)],
    )?;

    let leaf = |name: &str, subject: &str, profile: &str, serial: u32| {
        let pair = KeyPair { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
        let csr = dir.join(format!("{name}.csr"));
        openssl(
            &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject],
            &cnf,
            &[("-keyout", &pair.key), ("-out", &csr)],
        )?;
        let serial = serial.to_string();
        openssl(
            &["x509", "-req", "-days", DAYS, "-set_serial", &serial, "-extensions", profile],
            &cnf,
            &[("-in", &csr), ("-CA", &ca.cert), ("-CAkey", &ca.key), ("-extfile", &cnf), ("-out", &pair.cert)],
        )?;
        fs::remove_file(&csr).map_err(|e| io_error(&csr, e))?;
        Ok::<_, ClusterError>(pair)
    };
    let etcd_server = leaf("etcd-server", "/CN=etcd", "server", 2)?;
    let apiserver = leaf("apiserver", "/CN=kube-apiserver", "server", 3)?;
    let apiserver_etcd_client = leaf("apiserver-etcd-client", "/CN=kube-apiserver-etcd-client", "client", 4)?;
    let admin = leaf("admin", ADMIN_SUBJECT, "client", 5)?;
    let restricted = leaf("restricted", &format!("/O={RESTRICTED_GROUP}/CN={RESTRICTED_USER}"), "client", 6)?;

    let service_account_key = dir.join("sa.key");
    let service_account_pub = dir.join("sa.pub");
    openssl_plain(&[
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-out".as_ref(),
        service_account_key.as_os_str(),
    ])?;
    openssl_plain(&[
        "pkey".as_ref(),
        "-in".as_ref(),
        service_account_key.as_os_str(),
        "-pubout".as_ref(),
        "-out".as_ref(),
        service_account_pub.as_os_str(),
    ])?;

    Ok(Pki {
        ca_cert: ca.cert,
        etcd_server,
        apiserver,
        apiserver_etcd_client,
        admin,
        restricted,
        service_account_key,
        service_account_pub,
    })
}

/// Runs `openssl <args> -config <cnf> <flag path>...`.
fn openssl(args: &[&str], cnf: &Path, paths: &[(&str, &Path)]) -> Result<(), ClusterError> {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    // `x509 -req` reads extensions from -extfile; `req` from -config.
    if args.first() == Some(&"req") {
        all.push("-config".as_ref());
        all.push(cnf.as_os_str());
    }
    for (flag, path) in paths {
        all.push(flag.as_ref());
        all.push(path.as_os_str());
    }
    openssl_plain(&all)
}

fn openssl_plain(args: &[&std::ffi::OsStr]) -> Result<(), ClusterError> {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    crate::run_quiet(&mut cmd).map(|_| ())
}
