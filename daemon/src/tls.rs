//! Mutual TLS for `--host tcp://...`, from PEM files as Docker's `--tlscacert`,
//! `--tlscert` and `--tlskey` name them: the daemon accepts only clients whose certificate
//! the CA signed, and the client accepts only a daemon the CA signed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {what} {path}: {message}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{what} {path} holds no certificate")]
    Empty { what: &'static str, path: PathBuf },
    #[error("setting up TLS with {cert} and {key}: {source}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("the CA certificate {path} is not usable: {message}")]
    Ca { path: PathBuf, message: String },
}

/// The three files of a TLS identity with its trusted CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |e: rustls::pki_types::pem::Error| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let list = CertificateDer::pem_file_iter(path)
        .map_err(pem_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if list.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(list)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        what: "the private key (--tlskey)",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs("the CA certificate (--tlscacert)", path)? {
        store.add(c).map_err(|e| TlsError::Ca {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    Ok(store)
}

impl TlsFiles {
    fn config_err(&self) -> impl FnOnce(rustls::Error) -> TlsError + '_ {
        move |source| TlsError::Config {
            cert: self.cert.clone(),
            key: self.key.clone(),
            source,
        }
    }

    /// The daemon's side: its certificate, and client certificates required.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&self.ca)?), provider())
                .build()
                .map_err(|e| TlsError::Ca {
                    path: self.ca.clone(),
                    message: e.to_string(),
                })?;
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(self.config_err())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                certs("the certificate (--tlscert)", &self.cert)?,
                key(&self.key)?,
            )
            .map_err(self.config_err())?;
        Ok(Arc::new(cfg))
    }

    /// The client's side: the daemon must be signed by the CA; we present our certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(self.config_err())?
            .with_root_certificates(roots(&self.ca)?)
            .with_client_auth_cert(
                certs("the certificate (--tlscert)", &self.cert)?,
                key(&self.key)?,
            )
            .map_err(self.config_err())?;
        Ok(Arc::new(cfg))
    }
}
