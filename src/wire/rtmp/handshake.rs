//! RTMP handshake: C0/C1/C2 and S0/S1/S2 (Adobe RTMP specification 1.0, §5.2).
//!
//! Sans-IO: the caller reads C0+C1 off the socket, passes them to [`server_response`] with
//! fresh random bytes and the current epoch, writes the S0+S1+S2 it gets back, then reads and
//! discards the 1536-byte C2. [`client_c0c1`] and [`client_c2`] are the client side, used by our
//! own test tools.
//!
//! # Simple and complex handshakes
//!
//! The spec's §5.2.3 packet is `time(4) zero(4) random(1528)`. Flash Player 9 and later, ffmpeg,
//! and librtmp when it verifies a SWF, send instead the undocumented "complex" handshake: a
//! non-zero version in the "zero" field and an HMAC-SHA256 digest hidden in the random part.
//! The remaining 1528 bytes are two 764-byte blocks:
//!
//! ```text
//! digest block: offset(4) random(offset) digest(32) random(728 - offset)
//!               offset = (sum of its 4 offset bytes) % 728
//! key block:    random(offset) key(128) random(632 - offset) offset(4)
//!               offset = (sum of its 4 trailing offset bytes) % 632
//! ```
//!
//! [`Scheme::Digest0`] puts the key block first (digest block at byte 772),
//! [`Scheme::Digest1`] the digest block first (at byte 8); the naming follows SRS. The digest
//! is HMAC-SHA256 over the packet without those 32 bytes, keyed with the first 30 bytes of the
//! Flash Player key for C1 and the first 36 bytes of the Media Server key for S1. S2 and C2
//! end with a 32-byte signature over their first 1504 bytes, keyed with HMAC-SHA256(full key,
//! peer's digest). The key block only matters to RTMPE's Diffie-Hellman exchange, which we do
//! not support, so we leave it random.
//!
//! Clients accept a simple S1 in answer to a complex C1, but not a version without a digest:
//! ffmpeg, when playing, checks S1's digest and S2's signature whenever S1 byte 4 is 3 or more,
//! and librtmp checks them unless S1 byte 4 is zero. So simple answers carry a zero version and
//! complex answers a non-zero one (ffmpeg 5.1 and rtmpdump 2.4 were checked against both on
//! loopback; ffmpeg publishing echoes S1 as C2 without checking anything).
//!
//! Not supported: RTMPE (C0 version 6, and 8 for its XTEA/Blowfish variants) is refused with
//! [`HandshakeError::BadVersion`].

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// C0/S0: the only RTMP version we speak (§5.2.2).
pub const RTMP_VERSION: u8 = 3;
/// Length of C1, S1, C2 and S2 (§5.2.3, §5.2.4).
pub const PACKET_LEN: usize = 1536;
/// What a client sends first.
pub const C0C1_LEN: usize = 1 + PACKET_LEN;
/// What a server answers with.
pub const S0S1S2_LEN: usize = 1 + 2 * PACKET_LEN;

/// Which handshake a peer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RTMP 1.0 §5.2: no digest; S2 echoes C1, C2 echoes S1.
    Simple,
    /// Complex, key block first: the digest block starts at byte 772 of C1/S1.
    Digest0,
    /// Complex, digest block first: the digest block starts at byte 8 of C1/S1.
    Digest1,
}

/// Why a handshake failed. Every variant ends the connection.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// C0/S0 named another protocol version (6 is RTMPE, which we do not support).
    #[error("RTMP version {0} in C0/S0, only 3 is supported")]
    BadVersion(u8),
    /// The caller passed a buffer of the wrong size.
    #[error("handshake needs exactly {expected} bytes, got {got}")]
    BadLength { expected: usize, got: usize },
    /// S1 claims a server version but holds no valid digest in either scheme.
    #[error("S1 claims a server version but its digest does not validate")]
    BadServerDigest,
    /// S2's signature was not made from our C1 digest.
    #[error("S2 signature does not match our C1 digest")]
    BadServerSignature,
}

/// C1/S1 byte 0: the sender's epoch in milliseconds, big-endian (§5.2.3).
const TIME_OFFSET: usize = 0;
/// C1/S1 bytes 4..8: zero in the spec; the peer's version in the complex handshake.
const VERSION_OFFSET: usize = 4;
const VERSION_LEN: usize = 4;
/// C1/S1 byte 8: start of the two 764-byte blocks of the complex handshake.
const BLOCKS_OFFSET: usize = 8;
const BLOCK_LEN: usize = 764;
/// Length of the offset field that opens a digest block.
const OFFSET_FIELD_LEN: usize = 4;
/// HMAC-SHA256 output: a digest in C1/S1, a signature at the end of C2/S2.
const DIGEST_LEN: usize = 32;
/// Digest positions within a digest block after its offset field: 764 - 4 - 32.
const DIGEST_SPAN: usize = BLOCK_LEN - OFFSET_FIELD_LEN - DIGEST_LEN;
/// C2/S2: the signature covers the bytes before it and fills the rest.
const SIGNATURE_OFFSET: usize = PACKET_LEN - DIGEST_LEN;

const _: () = assert!(BLOCKS_OFFSET + 2 * BLOCK_LEN == PACKET_LEN);
const _: () = assert!(DIGEST_SPAN == 728);

/// What we write in S1 bytes 4..8 for a complex handshake, as Flash Media Server 4.5 does.
const SERVER_VERSION: [u8; VERSION_LEN] = [0x04, 0x05, 0x00, 0x01];
/// What our client writes in C1 bytes 4..8 for a complex handshake, as Flash Player 9 does.
const CLIENT_VERSION: [u8; VERSION_LEN] = [0x09, 0x00, 0x7c, 0x02];

/// The 32 bytes that follow both "Genuine Adobe" texts in the keys below.
const KEY_TAIL: [u8; 32] = [
    0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
    0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
];
const FMS_TEXT: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";
const FP_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";

/// Genuine FMS key (68 bytes): its text signs S1, the whole key derives S2's signing key.
const FMS_KEY: [u8; 68] = concat_key(FMS_TEXT);
/// Genuine FP key (62 bytes): its text signs C1, the whole key derives C2's signing key.
const FP_KEY: [u8; 62] = concat_key(FP_TEXT);

/// `text` followed by [`KEY_TAIL`], built at compile time.
const fn concat_key<const T: usize, const K: usize>(text: &[u8; T]) -> [u8; K] {
    assert!(T + KEY_TAIL.len() == K);
    let mut key = [0u8; K];
    let mut i = 0;
    while i < T {
        key[i] = text[i];
        i += 1;
    }
    while i < K {
        key[i] = KEY_TAIL[i - T];
        i += 1;
    }
    key
}

/// Builds S0+S1+S2 for a received C0+C1 (exactly [`C0C1_LEN`] bytes). `random` fills S1's
/// random part (its first 8 bytes are replaced by the time and version fields).
///
/// If C1 carries a valid Flash Player digest, S1 gets a Media Server digest in the same scheme
/// and S2 is signed from the client's digest. Scheme 0 is tried before scheme 1, as SRS does;
/// a C1 valid in one scheme is valid in the other with probability 2^-256, so the order does
/// not matter in practice. Otherwise the answer is the simple handshake. Either way S2 echoes
/// C1 (§5.2.4), the complex one with its last 32 bytes replaced by the signature.
pub fn server_response(
    c0c1: &[u8],
    random: &[u8; PACKET_LEN],
    epoch: u32,
) -> Result<(Scheme, Vec<u8>), HandshakeError> {
    let c1 = split_c0(c0c1, C0C1_LEN)?;
    let c1: &[u8; PACKET_LEN] = c1.try_into().map_err(|_| bad_length(c0c1, C0C1_LEN))?;

    let mut s1 = *random;
    s1[TIME_OFFSET..TIME_OFFSET + 4].copy_from_slice(&epoch.to_be_bytes());
    let mut s2 = *c1;
    let scheme = match find_digest(c1, FP_TEXT, [Scheme::Digest0, Scheme::Digest1]) {
        Some((scheme, c1_digest)) => {
            s1[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN].copy_from_slice(&SERVER_VERSION);
            imprint_digest(&mut s1, scheme, FMS_TEXT);
            sign(&mut s2, &FMS_KEY, &c1_digest);
            scheme
        }
        None => {
            s1[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN].fill(0);
            Scheme::Simple
        }
    };

    let mut out = Vec::with_capacity(S0S1S2_LEN);
    out.push(RTMP_VERSION);
    out.extend_from_slice(&s1);
    out.extend_from_slice(&s2);
    Ok((scheme, out))
}

/// Client side for our test tools: C0+C1, with a digest (scheme 1, as ffmpeg and Flash Player
/// send) if `complex`. `random` fills C1's random part.
pub fn client_c0c1(random: &[u8; PACKET_LEN], epoch: u32, complex: bool) -> Vec<u8> {
    let scheme = if complex {
        Scheme::Digest1
    } else {
        Scheme::Simple
    };
    let c1 = client_c1(random, epoch, scheme);
    let mut out = Vec::with_capacity(C0C1_LEN);
    out.push(RTMP_VERSION);
    out.extend_from_slice(&c1);
    out
}

/// Client side: checks S0+S1+S2 against the C0+C1 we sent and returns C2.
///
/// When our C1 carried a digest and S1 claims a server version (any of bytes 4..8 non-zero,
/// stricter than ffmpeg and librtmp, which look at byte 4 only), S1 must hold a valid Media
/// Server digest (our scheme is tried first, then the other, like ffmpeg and librtmp) and S2
/// must be signed from our C1 digest; C2 is then S1 with its last 32 bytes replaced by our
/// signature. Otherwise C2 echoes S1 (§5.2.4) and S2 is
/// not checked: the spec lets a server rewrite its time2 field.
pub fn client_c2(c0c1: &[u8], s0s1s2: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    let c1 = split_c0(c0c1, C0C1_LEN)?;
    let c1: &[u8; PACKET_LEN] = c1.try_into().map_err(|_| bad_length(c0c1, C0C1_LEN))?;
    let s1s2 = split_c0(s0s1s2, S0S1S2_LEN)?;
    let (s1, s2) = s1s2
        .split_at_checked(PACKET_LEN)
        .ok_or_else(|| bad_length(s0s1s2, S0S1S2_LEN))?;
    let s1: &[u8; PACKET_LEN] = s1.try_into().map_err(|_| bad_length(s0s1s2, S0S1S2_LEN))?;
    let s2: &[u8; PACKET_LEN] = s2.try_into().map_err(|_| bad_length(s0s1s2, S0S1S2_LEN))?;

    let mut c2 = *s1;
    let server_version = &s1[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN];
    let our_digest = find_digest(c1, FP_TEXT, [Scheme::Digest1, Scheme::Digest0]);
    if let Some((scheme, c1_digest)) = our_digest.filter(|_| server_version != [0; VERSION_LEN]) {
        let (_, s1_digest) = find_digest(s1, FMS_TEXT, [scheme, other_scheme(scheme)])
            .ok_or(HandshakeError::BadServerDigest)?;
        if !digest_matches(
            &s2[SIGNATURE_OFFSET..],
            &signature(s2, &FMS_KEY, &c1_digest),
        ) {
            return Err(HandshakeError::BadServerSignature);
        }
        sign(&mut c2, &FP_KEY, &s1_digest);
    }
    Ok(c2.to_vec())
}

/// C1 as our client sends it: `random` with the time, a version and a digest for the complex
/// schemes; a zero version for [`Scheme::Simple`].
fn client_c1(random: &[u8; PACKET_LEN], epoch: u32, scheme: Scheme) -> [u8; PACKET_LEN] {
    let mut c1 = *random;
    c1[TIME_OFFSET..TIME_OFFSET + 4].copy_from_slice(&epoch.to_be_bytes());
    let version = match scheme {
        Scheme::Simple => [0; VERSION_LEN],
        Scheme::Digest0 | Scheme::Digest1 => CLIENT_VERSION,
    };
    c1[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN].copy_from_slice(&version);
    imprint_digest(&mut c1, scheme, FP_TEXT);
    c1
}

/// Checks the length and the C0/S0 version byte, and returns what follows it.
fn split_c0(buf: &[u8], expected: usize) -> Result<&[u8], HandshakeError> {
    if buf.len() != expected {
        return Err(bad_length(buf, expected));
    }
    match buf.split_first() {
        Some((&RTMP_VERSION, rest)) => Ok(rest),
        Some((&version, _)) => Err(HandshakeError::BadVersion(version)),
        None => Err(bad_length(buf, expected)),
    }
}

fn bad_length(buf: &[u8], expected: usize) -> HandshakeError {
    HandshakeError::BadLength {
        expected,
        got: buf.len(),
    }
}

fn other_scheme(scheme: Scheme) -> Scheme {
    match scheme {
        Scheme::Digest0 => Scheme::Digest1,
        Scheme::Digest1 => Scheme::Digest0,
        Scheme::Simple => Scheme::Simple,
    }
}

/// Where the 32-byte digest sits in a C1/S1 of the given scheme; `None` for simple.
/// At most 772 + 4 + 727 = 1503, so the digest always fits in the packet.
fn digest_pos(packet: &[u8; PACKET_LEN], scheme: Scheme) -> Option<usize> {
    let block = match scheme {
        Scheme::Simple => return None,
        Scheme::Digest0 => BLOCKS_OFFSET + BLOCK_LEN,
        Scheme::Digest1 => BLOCKS_OFFSET,
    };
    let offset_field = &packet[block..block + OFFSET_FIELD_LEN];
    let sum: usize = offset_field.iter().map(|&b| usize::from(b)).sum();
    Some(block + OFFSET_FIELD_LEN + sum % DIGEST_SPAN)
}

/// HMAC-SHA256 of the packet without the 32 bytes at `pos`.
fn packet_digest(packet: &[u8; PACKET_LEN], pos: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256(key, &[&packet[..pos], &packet[pos + DIGEST_LEN..]])
}

/// The first scheme of `schemes` whose digest position holds a valid digest, with that digest.
fn find_digest(
    packet: &[u8; PACKET_LEN],
    key: &[u8],
    schemes: [Scheme; 2],
) -> Option<(Scheme, [u8; DIGEST_LEN])> {
    schemes.into_iter().find_map(|scheme| {
        let pos = digest_pos(packet, scheme)?;
        let expected = packet_digest(packet, pos, key);
        digest_matches(&packet[pos..pos + DIGEST_LEN], &expected).then_some((scheme, expected))
    })
}

/// Writes the digest of `scheme` into the packet; does nothing for [`Scheme::Simple`].
fn imprint_digest(packet: &mut [u8; PACKET_LEN], scheme: Scheme, key: &[u8]) {
    if let Some(pos) = digest_pos(packet, scheme) {
        let digest = packet_digest(packet, pos, key);
        packet[pos..pos + DIGEST_LEN].copy_from_slice(&digest);
    }
}

/// The C2/S2 signature: HMAC-SHA256 of the first 1504 bytes, keyed with
/// HMAC-SHA256(`full_key`, `peer_digest`).
fn signature(
    packet: &[u8; PACKET_LEN],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) -> [u8; DIGEST_LEN] {
    let key = hmac_sha256(full_key, &[peer_digest]);
    hmac_sha256(&key, &[&packet[..SIGNATURE_OFFSET]])
}

/// Replaces the last 32 bytes of a C2/S2 with its [`signature`].
fn sign(packet: &mut [u8; PACKET_LEN], full_key: &[u8], peer_digest: &[u8; DIGEST_LEN]) {
    let sig = signature(packet, full_key, peer_digest);
    packet[SIGNATURE_OFFSET..].copy_from_slice(&sig);
}

/// Compares a received digest or signature with the one we computed. The keys are public, so
/// a constant-time comparison would protect nothing. Under `cfg(fuzzing)` only the first byte
/// counts, so a fuzzer can reach both complex schemes as well as the simple one.
#[allow(unexpected_cfgs)]
fn digest_matches(received: &[u8], expected: &[u8; DIGEST_LEN]) -> bool {
    if cfg!(fuzzing) {
        received.first() == expected.first()
    } else {
        received == expected
    }
}

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length (RFC 2104 §2), so the `else` arm is never taken; were it
    // ever, an all-zero digest would only fail to match, never panic.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; DIGEST_LEN];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured C0+C1 from real clients against a listener on 127.0.0.1.
    /// `ffmpeg -f flv rtmp://…` (ffmpeg 5.1.9, Debian 12): C1 version 9.0.124.2, complex.
    const FFMPEG_C0C1: &[u8] = include_bytes!("../../../tests/data/handshake-ffmpeg-5.1-c0c1.bin");
    /// `rtmpdump -r rtmp://…` (RTMPDump v2.4, Debian 12): C1 version 0, simple.
    const RTMPDUMP_C0C1: &[u8] =
        include_bytes!("../../../tests/data/handshake-rtmpdump-2.4-c0c1.bin");
    /// `rtmpdump -r rtmp://… -w <64 hex digits> -x 1000`: a SWF hash switches librtmp to the
    /// complex handshake; C1 version 10.0.45.2.
    const RTMPDUMP_SWFHASH_C0C1: &[u8] =
        include_bytes!("../../../tests/data/handshake-rtmpdump-2.4-swfhash-c0c1.bin");

    /// Independent of the code under test: HMAC-SHA256 via the `hmac` crate's one-shot API.
    fn reference_hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Independent of the code under test: the digest of a C1/S1 whose digest block starts at
    /// `block` (8 or 772), checked with the key text; returns it if it validates.
    fn reference_digest(packet: &[u8], block: usize, key_text: &str) -> Option<[u8; 32]> {
        assert_eq!(packet.len(), 1536);
        let sum: u32 = packet[block..block + 4].iter().map(|&b| u32::from(b)).sum();
        let pos = block + 4 + (sum % 728) as usize;
        let mut rest = packet[..pos].to_vec();
        rest.extend_from_slice(&packet[pos + 32..]);
        let digest = reference_hmac(key_text.as_bytes(), &rest);
        (packet[pos..pos + 32] == digest).then_some(digest)
    }

    fn full_key(key_text: &str) -> Vec<u8> {
        let mut key = key_text.as_bytes().to_vec();
        key.extend_from_slice(&KEY_TAIL);
        key
    }

    /// Independent of the code under test: does a C2/S2 carry the signature derived from the
    /// peer's digest?
    fn reference_signed(packet: &[u8], key_text: &str, peer_digest: &[u8; 32]) -> bool {
        let key = reference_hmac(&full_key(key_text), peer_digest);
        reference_hmac(&key, &packet[..1504]) == packet[1504..]
    }

    const FP: &str = "Genuine Adobe Flash Player 001";
    const FMS: &str = "Genuine Adobe Flash Media Server 001";

    /// Deterministic "random" bytes (xorshift32) for tests.
    fn noise(seed: u32) -> [u8; PACKET_LEN] {
        let mut x = seed | 1;
        let mut out = [0u8; PACKET_LEN];
        for b in out.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        out
    }

    fn c0c1_with_scheme(seed: u32, scheme: Scheme) -> Vec<u8> {
        let mut out = vec![RTMP_VERSION];
        out.extend_from_slice(&client_c1(&noise(seed), 0x0102_0304, scheme));
        out
    }

    /// Checks an S0S1S2 built for `c0c1` in `scheme` with the reference functions only.
    fn assert_server_answer(c0c1: &[u8], scheme: Scheme, s0s1s2: &[u8], epoch: u32) {
        assert_eq!(s0s1s2.len(), S0S1S2_LEN);
        assert_eq!(s0s1s2[0], 3);
        let (c1, s1, s2) = (&c0c1[1..], &s0s1s2[1..1537], &s0s1s2[1537..]);
        assert_eq!(s1[0..4], epoch.to_be_bytes());
        let block = match scheme {
            Scheme::Simple => {
                assert_eq!(s1[4..8], [0; 4], "simple S1 must not claim a version");
                assert_eq!(s2, c1, "simple S2 echoes C1");
                return;
            }
            Scheme::Digest0 => 772,
            Scheme::Digest1 => 8,
        };
        assert_eq!(s1[4..8], [4, 5, 0, 1]);
        assert!(reference_digest(s1, block, FMS).is_some(), "S1 digest");
        let c1_digest = reference_digest(c1, block, FP).expect("C1 digest");
        assert!(reference_signed(s2, FMS, &c1_digest), "S2 signature");
        assert_eq!(s2[..1504], c1[..1504], "S2 echoes C1 before its signature");
    }

    #[test]
    fn keys_are_the_published_ones() {
        assert_eq!(FMS_KEY.len(), 68);
        assert_eq!(FP_KEY.len(), 62);
        assert_eq!(&FMS_KEY[..36], FMS.as_bytes());
        assert_eq!(&FP_KEY[..30], FP.as_bytes());
        assert_eq!(FMS_KEY[36..], FP_KEY[30..]);
        assert_eq!(FMS_KEY[36..40], [0xf0, 0xee, 0xc2, 0x4a]);
        assert_eq!(FP_KEY[58..], [0xcf, 0xeb, 0x31, 0xae]);
    }

    #[test]
    fn digest_positions() {
        // (offset field bytes, scheme, expected position): sum % 728 + block start + 4.
        let cases: [([u8; 4], Scheme, usize); 7] = [
            ([0, 0, 0, 0], Scheme::Digest1, 12),
            ([0, 0, 0, 0], Scheme::Digest0, 776),
            ([1, 2, 3, 4], Scheme::Digest1, 22),
            ([0xff; 4], Scheme::Digest1, 12 + 1020 - 728),
            ([0xff; 4], Scheme::Digest0, 776 + 1020 - 728),
            // Largest remainder: the digest ends at byte 1535, the last one.
            ([0xff, 0xff, 0xd9, 0], Scheme::Digest0, 1503),
            ([0xff, 0xff, 0xda, 0], Scheme::Digest0, 776),
        ];
        for (field, scheme, expected) in cases {
            let mut packet = [0u8; PACKET_LEN];
            let block = if scheme == Scheme::Digest1 { 8 } else { 772 };
            packet[block..block + 4].copy_from_slice(&field);
            assert_eq!(
                digest_pos(&packet, scheme),
                Some(expected),
                "{field:?} {scheme:?}"
            );
        }
        assert_eq!(digest_pos(&[0; PACKET_LEN], Scheme::Simple), None);
    }

    #[test]
    fn ffmpeg_capture_is_complex_scheme_1() {
        assert_eq!(FFMPEG_C0C1.len(), C0C1_LEN);
        assert_eq!(FFMPEG_C0C1[5..9], [9, 0, 124, 2]);
        // The capture validates with the published key, in scheme 1 only.
        assert!(reference_digest(&FFMPEG_C0C1[1..], 8, FP).is_some());
        assert!(reference_digest(&FFMPEG_C0C1[1..], 772, FP).is_none());
        let (scheme, out) = server_response(FFMPEG_C0C1, &noise(1), 77).unwrap();
        assert_eq!(scheme, Scheme::Digest1);
        assert_server_answer(FFMPEG_C0C1, scheme, &out, 77);
    }

    #[test]
    fn rtmpdump_capture_is_simple() {
        assert_eq!(RTMPDUMP_C0C1.len(), C0C1_LEN);
        assert_eq!(RTMPDUMP_C0C1[5..9], [0; 4]);
        let (scheme, out) = server_response(RTMPDUMP_C0C1, &noise(2), 78).unwrap();
        assert_eq!(scheme, Scheme::Simple);
        assert_server_answer(RTMPDUMP_C0C1, scheme, &out, 78);
    }

    #[test]
    fn rtmpdump_swfhash_capture_is_complex_scheme_1() {
        let c0c1 = RTMPDUMP_SWFHASH_C0C1;
        assert_eq!(c0c1.len(), C0C1_LEN);
        assert_eq!(c0c1[5..9], [10, 0, 45, 2]);
        assert!(reference_digest(&c0c1[1..], 8, FP).is_some());
        let (scheme, out) = server_response(c0c1, &noise(3), 79).unwrap();
        assert_eq!(scheme, Scheme::Digest1);
        assert_server_answer(c0c1, scheme, &out, 79);
    }

    #[test]
    fn server_and_client_agree_in_every_scheme() {
        for scheme in [Scheme::Simple, Scheme::Digest0, Scheme::Digest1] {
            for seed in 1..20 {
                let c0c1 = c0c1_with_scheme(seed, scheme);
                let (got, s0s1s2) = server_response(&c0c1, &noise(seed + 100), seed).unwrap();
                assert_eq!(got, scheme, "seed {seed}");
                assert_server_answer(&c0c1, scheme, &s0s1s2, seed);

                let c2 = client_c2(&c0c1, &s0s1s2).unwrap();
                assert_eq!(c2.len(), PACKET_LEN);
                let s1 = &s0s1s2[1..1537];
                match scheme {
                    Scheme::Simple => assert_eq!(c2, s1, "simple C2 echoes S1"),
                    Scheme::Digest0 | Scheme::Digest1 => {
                        let block = if scheme == Scheme::Digest0 { 772 } else { 8 };
                        let s1_digest = reference_digest(s1, block, FMS).unwrap();
                        assert!(reference_signed(&c2, FP, &s1_digest), "C2 signature");
                    }
                }
            }
        }
    }

    #[test]
    fn client_c0c1_matches_its_flag() {
        let simple = client_c0c1(&noise(5), 1000, false);
        assert_eq!(simple.len(), C0C1_LEN);
        assert_eq!(simple[..9], [3, 0, 0, 0x03, 0xe8, 0, 0, 0, 0]);
        assert_eq!(simple[9..], noise(5)[8..]);
        assert_eq!(
            server_response(&simple, &noise(6), 0).unwrap().0,
            Scheme::Simple
        );

        let complex = client_c0c1(&noise(5), 1000, true);
        assert_eq!(complex[..9], [3, 0, 0, 0x03, 0xe8, 9, 0, 124, 2]);
        assert!(reference_digest(&complex[1..], 8, FP).is_some());
        assert_eq!(
            server_response(&complex, &noise(6), 0).unwrap().0,
            Scheme::Digest1
        );
    }

    #[test]
    fn damaged_c1_digest_falls_back_to_simple() {
        for scheme in [Scheme::Digest0, Scheme::Digest1] {
            let mut c0c1 = c0c1_with_scheme(7, scheme);
            // Any byte outside the digest is covered by it; byte 1 is the time field.
            c0c1[1] ^= 0x80;
            let (got, out) = server_response(&c0c1, &noise(8), 0).unwrap();
            assert_eq!(got, Scheme::Simple);
            assert_server_answer(&c0c1, Scheme::Simple, &out, 0);
        }
    }

    #[test]
    fn client_rejects_bad_server_digest_and_signature() {
        let c0c1 = client_c0c1(&noise(9), 0, true);
        let (_, good) = server_response(&c0c1, &noise(10), 0).unwrap();

        let mut bad_s1 = good.clone();
        bad_s1[1] ^= 1;
        assert_eq!(
            client_c2(&c0c1, &bad_s1),
            Err(HandshakeError::BadServerDigest)
        );

        let mut bad_s2 = good.clone();
        bad_s2[S0S1S2_LEN - 1] ^= 1;
        assert_eq!(
            client_c2(&c0c1, &bad_s2),
            Err(HandshakeError::BadServerSignature)
        );

        // A simple answer (no server version) to a complex C1 is accepted, as ffmpeg does.
        let simple = client_c0c1(&noise(9), 0, false);
        let (_, simple_answer) = server_response(&simple, &noise(10), 0).unwrap();
        let c2 = client_c2(&c0c1, &simple_answer).unwrap();
        assert_eq!(c2, simple_answer[1..1537]);
    }

    #[test]
    fn client_accepts_server_digest_in_the_other_scheme() {
        let c0c1 = c0c1_with_scheme(11, Scheme::Digest0);
        let as_if_scheme_1 = c0c1_with_scheme(11, Scheme::Digest1);
        let (_, mut s0s1s2) = server_response(&as_if_scheme_1, &noise(12), 0).unwrap();
        // S1 carries a scheme 1 digest; re-sign S2 for our scheme 0 C1 digest.
        let c1: &[u8; PACKET_LEN] = c0c1[1..].try_into().unwrap();
        let (_, c1_digest) = find_digest(c1, FP_TEXT, [Scheme::Digest0, Scheme::Digest1]).unwrap();
        let s2: &mut [u8; PACKET_LEN] = (&mut s0s1s2[1537..]).try_into().unwrap();
        sign(s2, &FMS_KEY, &c1_digest);
        assert!(client_c2(&c0c1, &s0s1s2).is_ok());
    }

    #[test]
    fn wrong_length_is_an_error() {
        for len in (0..C0C1_LEN + 2).filter(|&len| len != C0C1_LEN) {
            let buf = vec![RTMP_VERSION; len];
            let err = HandshakeError::BadLength {
                expected: C0C1_LEN,
                got: len,
            };
            assert_eq!(server_response(&buf, &noise(1), 0), Err(err.clone()));
            assert_eq!(client_c2(&buf, &[3; S0S1S2_LEN]), Err(err));
        }
        let c0c1 = client_c0c1(&noise(1), 0, true);
        for len in [0, 1, C0C1_LEN, S0S1S2_LEN - 1, S0S1S2_LEN + 1] {
            assert_eq!(
                client_c2(&c0c1, &vec![3; len]),
                Err(HandshakeError::BadLength {
                    expected: S0S1S2_LEN,
                    got: len
                })
            );
        }
    }

    #[test]
    fn wrong_version_is_an_error() {
        // 6 (RTMPE) and 8 (RTMPE with XTEA/Blowfish) included.
        for version in (0..=255u8).filter(|&v| v != RTMP_VERSION) {
            let mut c0c1 = FFMPEG_C0C1.to_vec();
            c0c1[0] = version;
            assert_eq!(
                server_response(&c0c1, &noise(1), 0),
                Err(HandshakeError::BadVersion(version))
            );
            let mut s0s1s2 = vec![0; S0S1S2_LEN];
            s0s1s2[0] = version;
            assert_eq!(
                client_c2(FFMPEG_C0C1, &s0s1s2),
                Err(HandshakeError::BadVersion(version))
            );
        }
    }

    #[test]
    fn any_input_bytes_never_panic() {
        let mut inputs: Vec<Vec<u8>> = vec![vec![0; C0C1_LEN], vec![0xff; C0C1_LEN]];
        inputs.extend((1..200).map(|seed| {
            let mut buf = vec![0; C0C1_LEN];
            buf[1..].copy_from_slice(&noise(seed));
            buf[0] = if seed % 2 == 0 {
                RTMP_VERSION
            } else {
                seed as u8
            };
            buf
        }));
        for mut c0c1 in inputs {
            let _ = server_response(&c0c1, &noise(1), u32::MAX);
            c0c1[0] = RTMP_VERSION;
            let (scheme, _) = server_response(&c0c1, &noise(1), u32::MAX).unwrap();
            assert_eq!(scheme, Scheme::Simple);
        }
        let c0c1 = client_c0c1(&noise(1), 0, true);
        for fill in [0u8, 0xff] {
            let mut s0s1s2 = vec![fill; S0S1S2_LEN];
            s0s1s2[0] = RTMP_VERSION;
            let result = client_c2(&c0c1, &s0s1s2);
            let expected = if fill == 0 {
                Ok(vec![0; PACKET_LEN])
            } else {
                Err(HandshakeError::BadServerDigest)
            };
            assert_eq!(result, expected);
        }
        for seed in 1..100 {
            let mut s0s1s2 = vec![RTMP_VERSION];
            s0s1s2.extend_from_slice(&noise(seed));
            s0s1s2.extend_from_slice(&noise(seed + 1000));
            let _ = client_c2(&c0c1, &s0s1s2);
        }
    }
}
