//! SDP (GB28181 INVITE bodies, RTSP DESCRIBE and ANNOUNCE bodies): whatever parses encodes to
//! text that parses to the same description (documented on `Sdp::encode`); accessors do not
//! panic; each payload format that parses is written back (rtpmap, fmtp) to one that parses
//! to the same format, and its decoder configuration, if any, does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::sdp::fmtp::PayloadFormat;
use tinysrs::wire::sdp::{Sdp, MAX_MEDIA};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sdp) = Sdp::parse(text) else {
        return;
    };
    assert!(sdp.media.len() <= MAX_MEDIA);
    let _ = sdp.is_tcp();
    let _ = sdp.ssrc_value();
    if let Some(video) = sdp.video() {
        let _ = sdp.connection_for(video);
    }
    for media in &sdp.media {
        for (pt, format) in media.payload_formats() {
            let Ok(format) = format else {
                continue;
            };
            let back = PayloadFormat::parse(&format.rtpmap(), format.fmtp().as_deref())
                .expect("our rtpmap/fmtp parse");
            assert_eq!(back, format);
            let ours = format.media(pt, "trackID=0");
            assert_eq!(ours.payload_format().expect("ours parses").1, format);
            match &format {
                PayloadFormat::H264(p) => {
                    if let Some(config) = p.avc_config() {
                        let _ = config.sps_info();
                    }
                }
                PayloadFormat::H265(p) => {
                    if let Some(config) = p.hevc_config() {
                        let _ = config.sps_info();
                    }
                }
                PayloadFormat::Aac(p) => {
                    let _ = p.aac_config();
                }
                _ => {}
            }
        }
    }
    let encoded = sdp.encode();
    let again = Sdp::parse(&encoded).expect("encoded SDP parses");
    assert_eq!(again, sdp, "parse(encode(sdp)) != sdp for {encoded:?}");
});
