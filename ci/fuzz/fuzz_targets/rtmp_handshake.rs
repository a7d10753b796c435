//! RTMP handshake (server side): any C0+C1 either is refused or gets a well-formed
//! S0+S1+S2; a simple answer echoes C1 as S2 and is accepted by our client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtmp::handshake::{
    client_c2, server_response, Scheme, C0C1_LEN, PACKET_LEN, RTMP_VERSION, S0S1S2_LEN,
};

fuzz_target!(|data: &[u8]| {
    let random = [0x5au8; PACKET_LEN];
    let Ok((scheme, s0s1s2)) = server_response(data, &random, 0x0102_0304) else {
        return;
    };
    assert_eq!(data.len(), C0C1_LEN, "accepted a C0+C1 of the wrong length");
    assert_eq!(s0s1s2.len(), S0S1S2_LEN);
    assert_eq!(s0s1s2[0], RTMP_VERSION);
    let s2 = &s0s1s2[1 + PACKET_LEN..];
    let c1 = &data[1..];
    match scheme {
        Scheme::Simple => {
            assert_eq!(s2, c1, "simple S2 must echo C1");
            assert_eq!(
                &s0s1s2[5..9],
                &[0; 4],
                "simple S1 must carry a zero version"
            );
            // Our client accepts any simple answer to its C0+C1 and echoes S1 as C2.
            let c2 = client_c2(data, &s0s1s2).expect("client refuses a simple answer");
            assert_eq!(&c2[..], &s0s1s2[1..1 + PACKET_LEN]);
        }
        Scheme::Digest0 | Scheme::Digest1 => {
            assert_ne!(&s0s1s2[5..9], &[0; 4], "complex S1 must carry a version");
            // S2 echoes C1 except for the 32-byte signature at its end.
            assert_eq!(&s2[..PACKET_LEN - 32], &c1[..PACKET_LEN - 32]);
        }
    }
});
