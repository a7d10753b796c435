//! str0m's crypto provider, ours: the SRTP transforms, the STUN HMAC, the fingerprint hash and
//! DTLS, over the RustCrypto crates the TLS stack links already (aes, ctr, aes-gcm, hmac, sha1,
//! sha2: one copy of each) and dimpl's RustCrypto backend for DTLS. Nothing here needs a C
//! library, so it cross-builds for every board.
//!
//! What a caller must know:
//! - [`provider`] is the whole of it, set on every `Rtc` (`RtcConfig::set_crypto_provider`).
//! - str0m does the SRTP packet layout (RFC 3711 §3, RFC 7714 §5–§9: the IVs, the tags' place,
//!   the key derivation's input); this module only runs the ciphers it asks for:
//!   AES-128 in counter mode (RFC 3711 §4.1.1), AES-ECB single blocks for the key derivation
//!   (RFC 3711 §4.3.3), AES-128-GCM and AES-256-GCM with a 16-byte tag (RFC 7714 §5.2).
//! - The DTLS certificate is not made here: `server::rtc::dtls_cert` makes it once at start and
//!   every `Rtc` is given it, so [`DtlsProvider::generate_certificate`] returns `None`.
//! - A cipher gets its key once ([`Aes128Ctr`] keeps the expanded key, each packet only sets
//!   the IV); nothing here allocates per packet except an SRTCP check whose AAD comes in two
//!   pieces (RFC 7714 §17, unencrypted SRTCP).
//! - Errors: an output buffer shorter than the contract ([`CryptoError::Other`], a bug in the
//!   caller), and a GCM tag that does not verify (the peer's packet is dropped by str0m).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use aes::cipher::consts::{U12, U16};
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, InnerIvInit, KeyInit, StreamCipher, StreamCipherCoreWrapper};
use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{
    AeadAes128GcmCipher, AeadAes256GcmCipher, Aes128CmSha1_80Cipher, CryptoError, CryptoProvider,
    Sha1HmacProvider, Sha256Provider, SrtpProvider, SupportedAeadAes128Gcm, SupportedAeadAes256Gcm,
    SupportedAes128CmSha1_80,
};

/// The GCM authentication tag's length (RFC 7714 §5.2: 16 octets for both key sizes).
const GCM_TAG_LEN: usize = 16;
/// One AES block.
const BLOCK_LEN: usize = 16;

/// The provider every session uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        srtp_provider: &Srtp,
        sha1_hmac_provider: &StunHmac,
        sha256_provider: &FingerprintHash,
        dtls_provider: &Dtls,
    })
}

/// The SRTP ciphers' factory and the key derivation's block function.
#[derive(Debug)]
struct Srtp;

impl SrtpProvider for Srtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &Srtp
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &Srtp
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &Srtp
    }

    /// One AES-128 block (RFC 3711 §4.3.3: the key derivation is AES in counter mode, which
    /// str0m runs block by block). str0m passes its 16-byte master key and one block in, and
    /// a buffer of at least one block out.
    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        let aes = Aes128::new_from_slice(key).expect("str0m passes a 16-byte master key");
        encrypt_block(&aes, input, output);
    }

    /// One AES-256 block, as above for the 32-byte master key of AEAD-AES-256-GCM.
    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        let aes = Aes256::new_from_slice(key).expect("str0m passes a 32-byte master key");
        encrypt_block(&aes, input, output);
    }
}

fn encrypt_block(aes: &impl BlockEncrypt<BlockSize = U16>, input: &[u8], output: &mut [u8]) {
    let block = aes::Block::from_mut_slice(&mut output[..BLOCK_LEN]);
    block.copy_from_slice(&input[..BLOCK_LEN]);
    aes.encrypt_block(block);
}

impl SupportedAes128CmSha1_80 for Srtp {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Box::new(Aes128Ctr(Aes128::new(&key.into())))
    }
}

impl SupportedAeadAes128Gcm for Srtp {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        Box::new(Gcm128(Aes128Gcm::new(&key.into())))
    }
}

impl SupportedAeadAes256Gcm for Srtp {
    fn create_cipher(&self, key: [u8; 32], _encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        Box::new(Gcm256(Aes256Gcm::new(&key.into())))
    }
}

/// AES-128 in counter mode (RFC 3711 §4.1.1) with its expanded session key. The IV str0m
/// passes is the counter's start (salt, SSRC and packet index, the low 16 bits zero); the
/// counter counts blocks in those low bits. Encryption and decryption are the same XOR.
struct Aes128Ctr(Aes128);

/// CTR's state over an already expanded key (big-endian counter: RFC 3711 §4.1.1).
type CtrCore = ctr::CtrCore<Aes128, ctr::flavors::Ctr128BE>;

impl Aes128Ctr {
    /// `output` holds at least `input.len()` bytes (str0m gives it some spare).
    fn apply(&self, iv: &[u8; 16], input: &[u8], output: &mut [u8]) -> Result<(), CryptoError> {
        let Some(output) = output.get_mut(..input.len()) else {
            return Err(short_output(input.len(), output.len()));
        };
        output.copy_from_slice(input);
        let core = CtrCore::inner_iv_init(self.0.clone(), iv.into());
        let mut ctr = StreamCipherCoreWrapper::from_core(core);
        ctr.apply_keystream(output);
        Ok(())
    }
}

impl Aes128CmSha1_80Cipher for Aes128Ctr {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.apply(iv, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.apply(iv, input, output)
    }
}

/// AEAD-AES-128-GCM (RFC 7714).
struct Gcm128(Aes128Gcm);
/// AEAD-AES-256-GCM (RFC 7714).
struct Gcm256(Aes256Gcm);

/// GCM sealing (RFC 7714 §5.2.1): `output` gets the ciphertext, as long as `input`, then the
/// tag.
fn seal(
    gcm: &impl AeadInPlace<NonceSize = U12, TagSize = U16>,
    iv: &[u8; 12],
    aad: &[u8],
    input: &[u8],
    output: &mut [u8],
) -> Result<(), CryptoError> {
    let len = input.len();
    if output.len() < len + GCM_TAG_LEN {
        return Err(short_output(len + GCM_TAG_LEN, output.len()));
    }
    output[..len].copy_from_slice(input);
    let tag = gcm
        .encrypt_in_place_detached(iv.into(), aad, &mut output[..len])
        .map_err(|_| CryptoError::Other("GCM: input too long".into()))?;
    output[len..len + GCM_TAG_LEN].copy_from_slice(&tag);
    Ok(())
}

/// GCM opening (RFC 7714 §5.2.2): `input` is the ciphertext then the tag; the AAD is the
/// concatenation of `aads`. Writes the plaintext at the start of `output` and returns its
/// length.
fn open(
    gcm: &impl AeadInPlace<NonceSize = U12, TagSize = U16>,
    iv: &[u8; 12],
    aads: &[&[u8]],
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, CryptoError> {
    let Some(len) = input.len().checked_sub(GCM_TAG_LEN) else {
        return Err(CryptoError::Other("GCM: shorter than its tag".into()));
    };
    if output.len() < len {
        return Err(short_output(len, output.len()));
    }
    let (ciphertext, tag) = input.split_at(len);
    output[..len].copy_from_slice(ciphertext);
    // Most callers pass one piece; unencrypted SRTCP passes two (header, then E and index).
    let joined;
    let aad = match aads {
        [] => &[][..],
        [one] => one,
        many => {
            joined = many.concat();
            &joined[..]
        }
    };
    gcm.decrypt_in_place_detached(
        iv.into(),
        aad,
        &mut output[..len],
        GenericArray::from_slice(tag),
    )
    .map_err(|_| CryptoError::Other("GCM: the tag does not verify".into()))?;
    Ok(len)
}

impl AeadAes128GcmCipher for Gcm128 {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        seal(&self.0, iv, aad, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        open(&self.0, iv, aads, input, output)
    }
}

impl AeadAes256GcmCipher for Gcm256 {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        seal(&self.0, iv, aad, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        open(&self.0, iv, aads, input, output)
    }
}

fn short_output(needed: usize, have: usize) -> CryptoError {
    CryptoError::Other(format!("output buffer of {have} bytes, {needed} needed"))
}

// The ciphers hold session keys: their Debug (which str0m's bounds ask for) names them only.
macro_rules! debug_without_key {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
debug_without_key!(Aes128Ctr, Gcm128, Gcm256, DtlsSession);

/// HMAC-SHA1 of STUN's MESSAGE-INTEGRITY (RFC 5389 §15.4), and of SRTP's
/// AES-128-CM-HMAC-SHA1-80 tag (RFC 3711 §4.2.1), over the concatenation of `payloads`.
#[derive(Debug)]
struct StunHmac;

impl Sha1HmacProvider for StunHmac {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        for p in payloads {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

/// SHA-256 of the certificate fingerprints in the SDP (RFC 8122 §5).
#[derive(Debug)]
struct FingerprintHash;

impl Sha256Provider for FingerprintHash {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
}

/// DTLS by dimpl (sans-IO, its RustCrypto backend: ECDHE P-256/X25519, ECDSA, AES-GCM).
#[derive(Debug)]
struct Dtls;

impl DtlsProvider for Dtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        None
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let mut config = dimpl::Config::builder();
        if let Some(mtu) = mtu {
            config = config.mtu(mtu);
        }
        let config = Arc::new(config.build()?);
        let cert = cert.clone();
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            _ => dimpl::Dtls::new_auto(config, cert, now),
        };
        Ok(Box::new(DtlsSession(dtls)))
    }
}

/// One peer's DTLS, dimpl's state machine as it is.
struct DtlsSession(dimpl::Dtls);

impl DtlsInstance for DtlsSession {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active)
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<(), DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn array<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for session key 2B7E…4F3C, salt F0F1…FCFD,
    /// SSRC 0, index 0 (so the IV is the salt shifted left by 16 bits).
    #[test]
    fn aes_cm_keystream_rfc3711_b2() {
        let key = array("2B7E151628AED2A6ABF7158809CF4F3C");
        let mut cipher = SupportedAes128CmSha1_80::create_cipher(&Srtp, key, true);
        let iv = array("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
        let zeros = vec![0u8; 0xff02 * BLOCK_LEN];
        // Spare bytes after the output, as str0m gives them, stay untouched.
        let mut out = vec![0xaa; zeros.len() + 15];
        cipher.encrypt(&iv, &zeros, &mut out).unwrap();
        let block = |n: usize| &out[n * BLOCK_LEN..(n + 1) * BLOCK_LEN];
        assert_eq!(block(0x0000), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(0x0001), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(0x0002), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
        assert_eq!(&out[zeros.len()..], &[0xaa; 15]);
        // Decryption is the same XOR: the keystream applied to itself gives the zeros back.
        let keystream = out[..zeros.len()].to_vec();
        cipher.decrypt(&iv, &keystream, &mut out).unwrap();
        assert!(out[..zeros.len()].iter().all(|b| *b == 0));
        assert!(cipher.encrypt(&iv, &zeros, &mut [0; 16]).is_err());
    }

    /// RFC 3711 §4.3.3 with str0m's layout of the counter-mode input: the master salt, the
    /// label XORed into octet 7, the block counter in the last two octets.
    fn derive(master: &[u8; 16], salt: &[u8; 14], label: u8, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for round in 0u16.. {
            if out.len() >= len {
                break;
            }
            let mut input = [0u8; 16];
            input[..14].copy_from_slice(salt);
            input[7] ^= label;
            input[14..].copy_from_slice(&round.to_be_bytes());
            let mut block = [0u8; 32];
            Srtp.srtp_aes_128_ecb_round(master, &input, &mut block);
            out.extend_from_slice(&block[..16]);
        }
        out.truncate(len);
        out
    }

    /// RFC 3711 Appendix B.3: the session keys of master key E1F9…4139, salt 0EC6…ABE6.
    #[test]
    fn key_derivation_rfc3711_b3() {
        let master = array("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = array("0EC675AD498AFEEBB6960B3AABE6");
        assert_eq!(
            derive(&master, &salt, 0, 16),
            hex("C61E7A93744F39EE10734AFE3FF7A087")
        );
        assert_eq!(
            derive(&master, &salt, 1, 94),
            hex(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                 E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );
        assert_eq!(
            derive(&master, &salt, 2, 14),
            hex("30CBBC08863D8C85D49DB34A9AE1")
        );
    }

    /// RFC 7714 §16.1.1: AEAD_AES_128_GCM over the RTP packet "Gallia est omnis divisa in
    /// partes tres" (SSRC 5501a0b2, seq f17b, ROC 0), whose IV (§8.1) is 51753c65…8414.
    #[test]
    fn aes_128_gcm_rtp_rfc7714_16_1_1() {
        let mut cipher = SupportedAeadAes128Gcm::create_cipher(
            &Srtp,
            array("000102030405060708090a0b0c0d0e0f"),
            true,
        );
        let iv = array("51753c6580c2726f20718414");
        let header = hex("8040f17b 8041f8d3 5501a0b2");
        let payload = hex(
            "47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465
             73207472 6573",
        );
        let expected = hex(
            "f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b
             36de3adf 8833 899d7f27 beb16a91 52cf765e e4390cce",
        );
        let mut sealed = vec![0; payload.len() + GCM_TAG_LEN];
        cipher.encrypt(&iv, &header, &payload, &mut sealed).unwrap();
        assert_eq!(sealed, expected);

        let mut opened = vec![0; payload.len()];
        let n = cipher
            .decrypt(&iv, &[&header], &sealed, &mut opened)
            .unwrap();
        assert_eq!(&opened[..n], &payload[..]);
        // The AAD in two pieces is the same AAD.
        let n = cipher
            .decrypt(&iv, &[&header[..5], &header[5..]], &sealed, &mut opened)
            .unwrap();
        assert_eq!(&opened[..n], &payload[..]);
        // One flipped bit anywhere (header, ciphertext, tag) fails.
        let mut bad_header = header.clone();
        bad_header[11] ^= 1;
        assert!(cipher
            .decrypt(&iv, &[&bad_header], &sealed, &mut opened)
            .is_err());
        for at in [0, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 0x80;
            assert!(cipher.decrypt(&iv, &[&header], &bad, &mut opened).is_err());
        }
        assert!(cipher
            .decrypt(&iv, &[&header], &sealed[..15], &mut opened)
            .is_err());
    }

    #[test]
    fn aes_256_gcm_round_trip() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut enc = SupportedAeadAes256Gcm::create_cipher(&Srtp, key, true);
        let mut dec = SupportedAeadAes256Gcm::create_cipher(&Srtp, key, false);
        let iv = [9; 12];
        let payload: Vec<u8> = (0..1200).map(|i| i as u8).collect();
        let mut sealed = vec![0; payload.len() + GCM_TAG_LEN];
        enc.encrypt(&iv, b"header", &payload, &mut sealed).unwrap();
        assert_ne!(&sealed[..payload.len()], &payload[..]);
        let mut opened = vec![0; payload.len() + 8];
        let n = dec
            .decrypt(&iv, &[b"header"], &sealed, &mut opened)
            .unwrap();
        assert_eq!(&opened[..n], &payload[..]);
        assert!(dec
            .decrypt(&[8; 12], &[b"header"], &sealed, &mut opened)
            .is_err());
        // An empty payload still carries (and checks) a tag: unencrypted SRTCP's case.
        let mut tag = [0; GCM_TAG_LEN];
        enc.encrypt(&iv, b"all of it", &[], &mut tag).unwrap();
        assert_eq!(
            dec.decrypt(&iv, &[b"all ", b"of it"], &tag, &mut [])
                .unwrap(),
            0
        );
    }

    /// RFC 2202 §3, test case 2, with the message in two pieces; and FIPS 180-2's "abc".
    #[test]
    fn hmac_sha1_and_sha256() {
        assert_eq!(
            StunHmac.sha1_hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            array::<20>("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        assert_eq!(
            FingerprintHash.sha256(b"abc"),
            array::<32>("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    /// Drains `from`'s output into `to`; returns the packets moved.
    fn pump(
        from: &mut Box<dyn DtlsInstance>,
        to: &mut Box<dyn DtlsInstance>,
        keys: &mut Option<Vec<u8>>,
    ) -> usize {
        let mut buf = vec![0u8; 2048];
        let mut packets = Vec::new();
        loop {
            match from.poll_output(&mut buf) {
                DtlsOutput::Packet(p) => packets.push(p.to_vec()),
                DtlsOutput::KeyingMaterial(k, _) => *keys = Some(k.to_vec()),
                DtlsOutput::Timeout(_) => break,
                _ => {}
            }
        }
        for p in &packets {
            to.handle_packet(p).unwrap();
        }
        packets.len()
    }

    /// A DTLS handshake between two of our instances, client and server, each with its own
    /// certificate: both connect and export the same SRTP keying material.
    #[test]
    fn dtls_handshake_between_two_instances() {
        let now = crate::testutil::now();
        let server_cert = super::super::dtls_cert(&[7; 32], &[1; 16]).unwrap();
        let client_cert = super::super::dtls_cert(&[9; 32], &[2; 16]).unwrap();
        let mut server = Dtls
            .new_dtls(&server_cert, now, DtlsVersion::Dtls12, None)
            .unwrap();
        let mut client = Dtls
            .new_dtls(&client_cert, now, DtlsVersion::Dtls12, None)
            .unwrap();
        client.set_active(true);
        // dimpl starts on its first timeout (str0m gives it one at once).
        client.handle_timeout(now).unwrap();
        server.handle_timeout(now).unwrap();
        let (mut client_keys, mut server_keys) = (None, None);
        for _ in 0..50 {
            let sent = pump(&mut client, &mut server, &mut client_keys)
                + pump(&mut server, &mut client, &mut server_keys);
            if sent == 0 {
                break;
            }
        }
        assert!(client_keys.is_some(), "the client has no keys");
        assert_eq!(client_keys, server_keys);
        assert_eq!(client.protocol_version(), server.protocol_version());
    }
}
