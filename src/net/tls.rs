//! TLS (Cargo feature `tls`), one stack for both sides: our clients (`rtmps://` forward
//! destinations, `https://` hook and backend URLs) and the RTMPS and HTTPS servers
//! (`rtmps.listen`, `http_server.https.listen`). A
//! thin adapter: tokio-rustls wraps the TCP stream after connect or accept, and the protocol
//! code above reads and writes it as it does a plain one.
//!
//! What a caller must know:
//! - the server's certificate chain and key are PEM files (`rtmps.cert`, `rtmps.key`), read
//!   once at start by [`acceptor`]; keys are PKCS#8, SEC1 (EC) or PKCS#1 (RSA). The HTTPS
//!   server's ([`acceptor_or_self_signed`]) are made and written when neither file exists.
//! - one client configuration for the process, made by [`init`] at start from `[tls]`
//!   (`tls.verify`, `tls.ca_file`); a reload does not change it. Without `init` (unit tests),
//!   certificates are checked against the built-in roots.
//! - crypto is RustCrypto's (rustls-rustcrypto): pure Rust, so every target builds without a
//!   C cross compiler. TLS 1.3 and 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305), ECDSA, RSA
//!   and Ed25519 certificates.
//! - the server's name is checked against its certificate: a host name, or an IP address
//!   (which the certificate must list as an IP SAN).
//! - not supported: client certificates, session resumption across connections (each
//!   connection does a full handshake), OCSP and revocation lists.

use std::io;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The HTTPS server's certificate, made when none is configured.
mod made;
pub use made::acceptor_or_self_signed;

/// Plaintext a TLS connection may hold waiting to be encrypted and sent (rustls's
/// `set_buffer_limit`; rustls's own default). Why: a writer that outruns the socket waits
/// here rather than growing rustls's buffer; the RTMP session's outbox holds the rest.
pub const SEND_BUFFER: usize = 64 * 1024;

/// What one TLS connection costs beyond its TCP stream, rounded up: [`SEND_BUFFER`], the
/// largest incoming record being decrypted (16 KiB plaintext + 2 KiB of record overhead,
/// RFC 8446 5.2), the decrypted plaintext waiting to be read (rustls holds up to 16 KiB
/// more), the handshake's state and the peer's certificate chain while it is checked.
pub const CONNECTION_BYTES: usize = SEND_BUFFER + 18 * 1024 + 16 * 1024 + 16 * 1024;

static CLIENT: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// Makes the process's client configuration from `[tls]`: the roots of `ca_file` (PEM), or the
/// built-in ones when it is empty; `verify` false accepts any certificate. Fails on a
/// `ca_file` that cannot be read or holds no certificate.
pub fn init(verify: bool, ca_file: &str) -> Result<(), String> {
    let config = client_config(verify, ca_file)?;
    let _ = CLIENT.set(config);
    Ok(())
}

/// Connects TLS over `tcp` to `host` (the name checked against the certificate, and sent as
/// SNI unless it is an IP address).
pub async fn connect(tcp: TcpStream, host: &str) -> io::Result<TlsStream<TcpStream>> {
    let config = CLIENT
        .get_or_init(|| client_config(true, "").unwrap_or_else(|_| unreachable!()))
        .clone();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?}: {e}")))?;
    let mut stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("TLS: {e}")))?;
    stream.get_mut().1.set_buffer_limit(Some(SEND_BUFFER));
    Ok(stream)
}

/// The server side's acceptor for the certificate chain `cert` and its `key` (PEM files).
pub fn acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("certificate {cert:?}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("certificate {cert:?}: no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("key {key:?}: {e}"))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("certificate {cert:?} with its key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Sets a connection's send buffer limit (see [`SEND_BUFFER`]) once accepted.
pub fn limit_server(stream: &mut tokio_rustls::server::TlsStream<TcpStream>) {
    stream.get_mut().1.set_buffer_limit(Some(SEND_BUFFER));
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls_rustcrypto::provider())
}

fn client_config(verify: bool, ca_file: &str) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = if verify {
        let mut roots = RootCertStore::empty();
        if ca_file.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        } else {
            let certs = CertificateDer::pem_file_iter(ca_file)
                .map_err(|e| format!("tls.ca_file {ca_file:?}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("tls.ca_file {ca_file:?}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.ca_file {ca_file:?}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("tls.ca_file {ca_file:?}: no certificate in it"));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `tls.verify = false`: any certificate is taken, but the handshake's signatures are still
/// checked (the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_build_with_the_built_in_roots_and_without_checks() {
        assert!(client_config(true, "").is_ok());
        assert!(client_config(false, "").is_ok());
        let missing = client_config(true, "/nonexistent/ca.pem").unwrap_err();
        assert!(missing.contains("tls.ca_file"), "{missing}");
    }
}
