//! The HTTPS server's certificate when `http_server.https` names no files that exist: a
//! self-signed one for this box's names (`wire::x509`), written where the config says so
//! that a browser's exception for it holds across restarts.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::{acceptor, provider};
use crate::wire::x509::{self, SubjectName};

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
}
