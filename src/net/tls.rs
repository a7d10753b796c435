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

use crate::wire::x509::{self, SubjectName};

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

/// The HTTPS server's acceptor: the certificate chain `cert` and its `key` (PEM files), or,
/// when neither file exists, a self-signed certificate for this box's names
/// ([`local_names`], with `listen`'s address) made now and written to both paths, so that a
/// browser's exception for it holds across restarts; when they cannot be written it serves
/// this run only (one warning). One of the two missing is an error naming it.
pub fn acceptor_or_self_signed(
    cert: &str,
    key: &str,
    listen: std::net::SocketAddr,
) -> Result<TlsAcceptor, String> {
    use std::path::Path;
    if Path::new(cert).exists() || Path::new(key).exists() {
        return acceptor(cert, key);
    }
    let names = local_names(listen.ip());
    let made = loop {
        let mut secret = [0u8; 32];
        let mut serial = [0u8; 16];
        getrandom::getrandom(&mut secret)
            .and_then(|()| getrandom::getrandom(&mut serial))
            .map_err(|e| format!("no random bytes for a key: {e}"))?;
        if let Some(made) = x509::self_signed(&secret, &serial, &names) {
            break made;
        }
    };
    let listed: Vec<String> = names
        .iter()
        .map(|n| match n {
            SubjectName::Dns(host) => host.clone(),
            SubjectName::Ip(ip) => ip.to_string(),
        })
        .collect();
    match write_pair(cert, key, &made) {
        Ok(()) => log::info!(
            "https: made a self-signed certificate for {} in {cert:?} (key {key:?})",
            listed.join(", ")
        ),
        Err(e) => log::warn!(
            "https: made a self-signed certificate for {} for this run only: {e}",
            listed.join(", ")
        ),
    }
    let chain = vec![CertificateDer::from(made.certificate)];
    let key = PrivateKeyDer::Sec1(made.private_key.into());
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("self-signed certificate: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Writes the key (mode 0600, created new) and then the certificate as PEM.
fn write_pair(cert: &str, key: &str, made: &x509::SelfSigned) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write = |path: &str, mode: u32, text: String| -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{path:?}: {e}")))?;
        file.write_all(text.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("{path:?}: {e}")))
    };
    write(key, 0o600, x509::pem("EC PRIVATE KEY", &made.private_key))?;
    if let Err(e) = write(cert, 0o644, x509::pem("CERTIFICATE", &made.certificate)) {
        // Not half a pair on disk: the next start would refuse it.
        let _ = std::fs::remove_file(key);
        return Err(e);
    }
    Ok(())
}

/// The names a self-signed certificate of this box lists: `localhost` and the loopback
/// addresses, the host name (Linux's `/proc/sys/kernel/hostname`), the address the default
/// route leaves from (a UDP socket's route lookup; nothing is sent) and `listen` when it
/// names one address.
pub fn local_names(listen: std::net::IpAddr) -> Vec<SubjectName> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
    let mut names = vec![
        SubjectName::Dns("localhost".to_owned()),
        SubjectName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SubjectName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        // A DNS name's characters only (a SAN entry is an IA5String).
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if !host.is_empty() && host.len() <= 253 && host.chars().all(plain) && host != "localhost" {
            names.push(SubjectName::Dns(host.to_owned()));
        }
    }
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip());
    for ip in [routed.ok(), Some(listen)].into_iter().flatten() {
        let name = SubjectName::Ip(ip);
        if !ip.is_unspecified() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
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
    fn a_missing_pair_is_made_and_written_and_then_read_back() {
        let dir = std::env::temp_dir().join(format!("tinysrs-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("server.crt").to_string_lossy().into_owned();
        let key = dir.join("server.key").to_string_lossy().into_owned();
        let listen = "10.1.2.3:8088".parse().unwrap();
        assert!(acceptor_or_self_signed(&cert, &key, listen).is_ok());
        let text = std::fs::read_to_string(&cert).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The second start reads the pair it wrote (and rustls takes the SEC1 key).
        let first = std::fs::read(&key).unwrap();
        assert!(acceptor_or_self_signed(&cert, &key, listen).is_ok());
        assert_eq!(std::fs::read(&key).unwrap(), first);
        // Half a pair is an error that names the missing file.
        std::fs::remove_file(&cert).unwrap();
        let e = acceptor_or_self_signed(&cert, &key, listen).err().unwrap();
        assert!(e.contains("server.crt"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let names = local_names(listen.ip());
        assert!(names.contains(&SubjectName::Ip(listen.ip())));
        assert!(names.contains(&SubjectName::Dns("localhost".into())));
    }

    #[test]
    fn configs_build_with_the_built_in_roots_and_without_checks() {
        assert!(client_config(true, "").is_ok());
        assert!(client_config(false, "").is_ok());
        let missing = client_config(true, "/nonexistent/ca.pem").unwrap_err();
        assert!(missing.contains("tls.ca_file"), "{missing}");
    }
}
