//! TLS to PostgreSQL, always (rustls). `require` encrypts without checking the
//! certificate; `verify-full` checks it against a CA bundle (the RDS bundle in
//! production, the local cloud's certificate locally) and the server name.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::SslMode;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The client TLS configuration for a stack's `sslmode`.
pub fn client_config(mode: SslMode, ca_file: Option<&Path>) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| anyhow::anyhow!("TLS set-up: {error}"))?;
    let config = match mode {
        SslMode::VerifyFull => {
            let path = ca_file
                .ok_or_else(|| anyhow::anyhow!("sslmode verify-full needs database.ca_file"))?;
            let roots = read_ca_bundle(path).map_err(|problem| anyhow::anyhow!("{problem}"))?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly {
                provider: provider(),
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The trust roots of a PEM CA bundle (`database.ca_file`), or why it gives
/// none; `validate` asks the same before any connection does.
pub fn read_ca_bundle(path: &Path) -> Result<RootCertStore, String> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|error| format!("cannot read CA bundle {}: {error}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|error| format!("CA bundle {} is not PEM: {error}", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!(
            "CA bundle {} holds no usable certificate",
            path.display()
        ));
    }
    Ok(roots)
}

/// `sslmode=require`: the session is encrypted and the handshake signatures
/// are checked, but the certificate is not tied to a CA (as libpq does).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
