//! Self-signed X.509 certificates (RFC 5280) for a P-256 key, DER-encoded, and PEM text
//! (RFC 7468): the WebRTC server's DTLS certificate (its fingerprint is what the peer checks)
//! and the HTTPS server's certificate when none is configured (a LAN box's, which a browser
//! shows as not trusted until the user accepts it).
//!
//! What a caller must know:
//! - [`self_signed`] signs with the key it is given (ECDSA with SHA-256); the subject and the
//!   issuer are `CN=tinysrs`; valid from 2000 to 2099, so a board whose clock is not set yet
//!   (no RTC, before NTP) takes it too.
//! - With names, the certificate is a server's: a subjectAltName of the DNS names and IP
//!   addresses (what clients check, RFC 6125), basicConstraints cA FALSE, keyUsage
//!   digitalSignature and extKeyUsage serverAuth. Without names, no extensions (DTLS).
//! - The private key is RFC 5915's ECPrivateKey (SEC1, PEM label `EC PRIVATE KEY`).

use std::net::IpAddr;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

/// A name the certificate is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectName {
    Dns(String),
    Ip(IpAddr),
}

/// A certificate and its key, both DER.
#[derive(Clone, Debug)]
pub struct SelfSigned {
    pub certificate: Vec<u8>,
    /// RFC 5915 ECPrivateKey.
    pub private_key: Vec<u8>,
}

// OIDs: ecdsa-with-SHA256 1.2.840.10045.4.3.2, id-ecPublicKey 1.2.840.10045.2.1, prime256v1
// 1.2.840.10045.3.1.7, commonName 2.5.4.3, subjectAltName 2.5.29.17, basicConstraints
// 2.5.29.19, keyUsage 2.5.29.15, extKeyUsage 2.5.29.37, serverAuth 1.3.6.1.5.5.7.3.1.
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// A certificate for the P-256 key `secret` with the serial number `serial` (made positive)
/// for `names`; None when `secret` is not a valid P-256 scalar (about 2^-32 of random draws:
/// draw again).
pub fn self_signed(
    secret: &[u8; 32],
    serial: &[u8; 16],
    names: &[SubjectName],
) -> Option<SelfSigned> {
    let key = SigningKey::from_slice(secret).ok()?;
    let point = key.verifying_key().to_encoded_point(false);
    let algorithm = der(0x30, &der(0x06, ECDSA_SHA256));
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &[der(0x06, COMMON_NAME), der(0x0c, b"tinysrs")].concat(),
            ),
        ),
    );
    let validity = der(
        0x30,
        &[der(0x17, b"000101000000Z"), der(0x18, b"20991231235959Z")].concat(),
    );
    let public_key = bit_string(point.as_bytes());
    let spki = der(
        0x30,
        &[
            der(
                0x30,
                &[der(0x06, EC_PUBLIC_KEY), der(0x06, PRIME256V1)].concat(),
            ),
            public_key.clone(),
        ]
        .concat(),
    );
    // A positive INTEGER: the top bit clear (and not zero).
    let mut serial = *serial;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let mut tbs = vec![
        der(0xa0, &der(0x02, &[2])),
        der(0x02, &serial),
        algorithm.clone(),
        name.clone(),
        validity,
        name,
        spki,
    ];
    if !names.is_empty() {
        tbs.push(der(0xa3, &der(0x30, &server_extensions(names))));
    }
    let tbs = der(0x30, &tbs.concat());
    let signature: Signature = key.sign(&tbs);
    let certificate = der(
        0x30,
        &[tbs, algorithm, bit_string(signature.to_der().as_bytes())].concat(),
    );
    let private_key = der(
        0x30,
        &[
            der(0x02, &[1]),
            der(0x04, secret),
            der(0xa0, &der(0x06, PRIME256V1)),
            der(0xa1, &public_key),
        ]
        .concat(),
    );
    Some(SelfSigned {
        certificate,
        private_key,
    })
}

/// subjectAltName, basicConstraints (critical, cA FALSE: the empty SEQUENCE), keyUsage
/// (critical, digitalSignature) and extKeyUsage serverAuth.
fn server_extensions(names: &[SubjectName]) -> Vec<u8> {
    let alt: Vec<u8> = names
        .iter()
        .flat_map(|n| match n {
            SubjectName::Dns(host) => der(0x82, host.as_bytes()),
            SubjectName::Ip(IpAddr::V4(ip)) => der(0x87, &ip.octets()),
            SubjectName::Ip(IpAddr::V6(ip)) => der(0x87, &ip.octets()),
        })
        .collect();
    let critical = der(0x01, &[0xff]);
    [
        der(
            0x30,
            &[der(0x06, SUBJECT_ALT_NAME), der(0x04, &der(0x30, &alt))].concat(),
        ),
        der(
            0x30,
            &[
                der(0x06, BASIC_CONSTRAINTS),
                critical.clone(),
                der(0x04, &der(0x30, &[])),
            ]
            .concat(),
        ),
        // BIT STRING with 7 unused bits: bit 0, digitalSignature.
        der(
            0x30,
            &[
                der(0x06, KEY_USAGE),
                critical,
                der(0x04, &der(0x03, &[0x07, 0x80])),
            ]
            .concat(),
        ),
        der(
            0x30,
            &[
                der(0x06, EXT_KEY_USAGE),
                der(0x04, &der(0x30, &der(0x06, SERVER_AUTH))),
            ]
            .concat(),
        ),
    ]
    .concat()
}

/// A BIT STRING of whole bytes.
fn bit_string(bytes: &[u8]) -> Vec<u8> {
    der(0x03, &[&[0u8][..], bytes].concat())
}

/// One DER TLV (lengths up to 65535, which a certificate of ours never passes).
pub fn der(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 4);
    out.push(tag);
    match value.len() {
        n @ 0..=127 => out.push(n as u8),
        n @ 128..=255 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(value);
    out
}

/// PEM text of `der` under `label` (`CERTIFICATE`, `EC PRIVATE KEY`): base64 in lines of 64.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = super::base64::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    #[test]
    fn der_lengths_take_one_two_or_three_bytes() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&der(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&der(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn a_server_certificate_names_its_hosts_and_its_signature_verifies() {
        use p256::ecdsa::signature::Verifier;
        use p256::ecdsa::VerifyingKey;
        let names = [
            SubjectName::Dns("localhost".into()),
            SubjectName::Ip("127.0.0.1".parse().unwrap()),
        ];
        let cert = self_signed(&SECRET, &[0xff; 16], &names).unwrap();
        let c = &cert.certificate;
        // The SAN's entries as DER: dNSName "localhost", iPAddress 127.0.0.1.
        let dns = der(0x82, b"localhost");
        let ip = der(0x87, &[127, 0, 0, 1]);
        assert!(c.windows(dns.len()).any(|w| w == dns));
        assert!(c.windows(ip.len()).any(|w| w == ip));
        // The serial's top bit is cleared: a positive INTEGER.
        let mut positive = [0xff; 16];
        positive[0] = 0x7f;
        let serial = der(0x02, &positive);
        assert!(c.windows(serial.len()).any(|w| w == serial));
        // Certificate = SEQUENCE { tbs, algorithm, BIT STRING signature }: the signature is
        // the key's over the tbs bytes.
        let (tbs, rest) = split_tlv(&c[tlv_header_len(c)..]);
        let (_algorithm, rest) = split_tlv(rest);
        let (signature, rest) = split_tlv(rest);
        assert!(rest.is_empty());
        let signature = Signature::from_der(&signature[tlv_header_len(signature) + 1..]).unwrap();
        let key = SigningKey::from_slice(&SECRET).unwrap();
        VerifyingKey::from(&key).verify(tbs, &signature).unwrap();
    }

    #[test]
    fn without_names_there_are_no_extensions_and_bad_scalars_are_refused() {
        let cert = self_signed(&SECRET, &[1; 16], &[]).unwrap();
        assert!(!cert.certificate.windows(3).any(|w| w == SUBJECT_ALT_NAME));
        assert!(self_signed(&[0; 32], &[1; 16], &[]).is_none());
        assert!(self_signed(&[0xff; 32], &[1; 16], &[]).is_none());
    }

    #[test]
    fn pem_wraps_base64_at_64_columns() {
        let text = pem("CERTIFICATE", &[0u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        // 100 bytes are 136 base64 characters.
        let widths: Vec<usize> = lines[1..4].iter().map(|l| l.len()).collect();
        assert_eq!(widths, [64, 64, 8]);
        assert_eq!(lines[4], "-----END CERTIFICATE-----");
        assert_eq!(lines.len(), 5);
    }

    fn tlv_header_len(tlv: &[u8]) -> usize {
        match tlv[1] {
            0x81 => 3,
            0x82 => 4,
            _ => 2,
        }
    }

    /// The first TLV of `bytes` whole, and what follows it.
    fn split_tlv(bytes: &[u8]) -> (&[u8], &[u8]) {
        let len = match bytes[1] {
            0x81 => bytes[2] as usize,
            0x82 => (bytes[2] as usize) << 8 | bytes[3] as usize,
            n => n as usize,
        };
        bytes.split_at(tlv_header_len(bytes) + len)
    }
}
