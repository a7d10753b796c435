//! Camera and program SDPs (named by vendor or program) through `Sdp::parse` and the payload
//! formats; the quirks of the module documentation; our own descriptions round-tripped.

use super::*;
use crate::wire::sdp::Sdp;

/// x264's SPS (Main, level 3.0, 640x360) and PPS, as ffmpeg and cameras put them in base64.
const SPS_B64: &str = "Z01AHuygUBf8uAiAAAADAIAAABkHixbL";
const PPS_B64: &str = "aOvjyyA=";
/// x265's VPS, SPS (Main, 640x360) and PPS.
const VPS_H265_B64: &str = "QAEMAf//AWAAAAMAkAAAAwAAAwA/lZgJ";
const SPS_H265_B64: &str = "QgEBAWAAAAMAkAAAAwAAAwA/oAUCAWlllZpJMrwFoCAAAAMAIAAAAwMh";
const PPS_H265_B64: &str = "RAHBcrRiQA==";

/// A Hikvision DESCRIBE body: absolute controls, H.264 and G.711 A-law without an rtpmap
/// channel count, `; ` between parameters.
const HIKVISION_SDP: &str = include_str!("../../../../tests/data/rtsp/hikvision_describe.sdp");

/// A Dahua DESCRIBE body: relative controls, H.265, AAC at 16 kHz mono with a trailing `;`
/// (as Reolink writes it too), a session range, an ONVIF metadata track we cannot carry.
const DAHUA_H265_AAC_SDP: &str = "v=0\r\n\
o=- 2251938263 2251938263 IN IP4 0.0.0.0\r\n\
s=Media Server\r\n\
c=IN IP4 0.0.0.0\r\n\
t=0 0\r\n\
a=control:*\r\n\
a=packetization-supported:DH\r\n\
a=rtppayload-supported:DH\r\n\
a=range:npt=now-\r\n\
m=video 0 RTP/AVP 98\r\n\
a=control:trackID=0\r\n\
a=framerate:25.000000\r\n\
a=rtpmap:98 H265/90000\r\n\
a=fmtp:98 profile-id=1;sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA/oAUCAWlllZpJMrwFoCAAAAMAIAAAAwMh;sprop-pps=RAHBcrRiQA==;sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA/lZgJ\r\n\
a=recvonly\r\n\
m=audio 0 RTP/AVP 97\r\n\
a=control:trackID=1\r\n\
a=rtpmap:97 MPEG4-GENERIC/16000/1\r\n\
a=fmtp:97 streamtype=5;profile-level-id=15;mode=AAC-hbr;config=1408;sizeLength=13;indexLength=3;indexDeltaLength=3;\r\n\
a=recvonly\r\n\
m=application 0 RTP/AVP 107\r\n\
a=control:trackID=4\r\n\
a=rtpmap:107 vnd.onvif.metadata/90000\r\n\
a=recvonly\r\n";

/// ffmpeg's SDP for `-c:a libopus -f rtp`, and a bare `a=fmtp:96` as Ubiquiti sends it.
const OPUS_AND_BARE_FMTP_SDP: &str = "v=0\n\
o=- 0 0 IN IP4 127.0.0.1\n\
s=No Name\n\
c=IN IP4 127.0.0.1\n\
t=0 0\n\
m=audio 5004 RTP/AVP 97\n\
a=rtpmap:97 opus/48000/2\n\
a=fmtp:97 sprop-stereo=1\n\
m=video 0 RTP/AVP 96\n\
a=rtpmap:96 H264/90000 \n\
a=fmtp:96\n";

fn b64(s: &str) -> Bytes {
    Bytes::from(base64::decode(s.as_bytes()).unwrap())
}

#[test]
fn hikvision_h264_pcma() {
    let sdp = Sdp::parse(HIKVISION_SDP).unwrap();
    assert_eq!(
        sdp.control.as_deref(),
        Some("rtsp://192.168.1.64:554/Streaming/Channels/101/")
    );
    let video = &sdp.media[0];
    assert_eq!(
        video.control.as_deref(),
        Some("rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1")
    );
    let (pt, format) = video.payload_format().unwrap();
    assert_eq!(pt, 96);
    let PayloadFormat::H264(h264) = &format else {
        panic!("{format:?}");
    };
    assert_eq!(h264.packetization_mode, 1);
    assert_eq!(h264.profile_level_id, Some([0x4d, 0x40, 0x1e]));
    assert_eq!(h264.sps, [b64(SPS_B64)]);
    assert_eq!(h264.pps, [b64(PPS_B64)]);
    let config = h264.avc_config().unwrap();
    let info = config.sps_info().unwrap();
    assert_eq!((info.width, info.height, config.profile), (640, 360, 0x4d));
    assert_eq!(format.clock_rate(), 90_000);

    let (pt, format) = sdp.media[1].payload_format().unwrap();
    assert_eq!((pt, format), (8, PayloadFormat::Pcma { channels: 1 }));
    assert_eq!(Sdp::parse(&sdp.encode()).unwrap(), sdp);
}

#[test]
fn dahua_h265_aac_metadata() {
    let sdp = Sdp::parse(DAHUA_H265_AAC_SDP).unwrap();
    assert_eq!(sdp.control.as_deref(), Some("*"));
    assert_eq!(sdp.range.as_deref(), Some("npt=now-"));
    assert_eq!(sdp.media[0].control.as_deref(), Some("trackID=0"));
    let (pt, format) = sdp.media[0].payload_format().unwrap();
    assert_eq!(pt, 98);
    let PayloadFormat::H265(h265) = &format else {
        panic!("{format:?}");
    };
    // sprop-sps came first: sorted by NAL type.
    assert_eq!(h265.vps, [b64(VPS_H265_B64)]);
    assert_eq!(h265.sps, [b64(SPS_H265_B64)]);
    assert_eq!(h265.pps, [b64(PPS_H265_B64)]);
    let info = h265.hevc_config().unwrap().sps_info().unwrap();
    assert_eq!((info.width, info.height), (640, 360));

    let (pt, format) = sdp.media[1].payload_format().unwrap();
    assert_eq!(pt, 97);
    let PayloadFormat::Aac(aac) = &format else {
        panic!("{format:?}");
    };
    assert_eq!(&aac.config[..], &[0x14, 0x08]);
    assert_eq!((aac.clock_rate, aac.channels), (16_000, Some(1)));
    assert_eq!(
        (aac.size_length, aac.index_length, aac.index_delta_length),
        (13, 3, 3)
    );
    let config = aac.aac_config().unwrap();
    assert_eq!((config.sample_rate, config.channels), (16_000, 1));
    assert_eq!(aac.frame_duration(), 1024);

    assert_eq!(
        sdp.media[2].payload_format(),
        Err(FormatError::Unsupported {
            what: "vnd.onvif.metadata".into()
        })
    );
    assert_eq!(Sdp::parse(&sdp.encode()).unwrap(), sdp);
}

#[test]
fn opus_and_bare_fmtp() {
    let sdp = Sdp::parse(OPUS_AND_BARE_FMTP_SDP).unwrap();
    let (_, opus) = sdp.media[0].payload_format().unwrap();
    assert_eq!(opus, PayloadFormat::Opus(OpusParams { stereo: true }));
    assert_eq!(opus.clock_rate(), 48_000);
    // The rtpmap's trailing space and the bare fmtp: a mode-0 H.264 without parameter sets.
    let video = &sdp.media[1];
    assert_eq!(video.fmtps, [(96, String::new())]);
    let (_, h264) = video.payload_format().unwrap();
    assert_eq!(
        h264,
        PayloadFormat::H264(H264Params {
            packetization_mode: 0,
            profile_level_id: None,
            sps: vec![],
            pps: vec![],
        })
    );
    assert_eq!(Sdp::parse(&sdp.encode()).unwrap(), sdp);
}

#[test]
fn broken_parameter_sets() {
    // GW Security: every set ends with an Annex B start code; PPS listed first.
    let gw = H264Params::parse(
        "packetization-mode=1;profile-level-id=5046302;\
         sprop-parameter-sets=aOvjyyAAAAAB,Z01AHuygUBf8uAiAAAADAIAAABkHixbLAAAAAQ==",
    );
    assert_eq!(gw.sps, [b64(SPS_B64)]);
    assert_eq!(gw.pps, [b64(PPS_B64)]);
    assert_eq!(gw.profile_level_id, None, "7 hex digits");
    // VStarcam: raw bytes that are not NAL units, and zeros: nothing kept, no error.
    let vstarcam = H264Params::parse(
        "packetization-mode=1;profile-level-id=00f004;\
         sprop-parameter-sets=6QDwBE/LCAAAH0gAB1TgIAAAAAA=,AAAAAA==",
    );
    assert!(vstarcam.sps.is_empty() && vstarcam.pps.is_empty());
    assert_eq!(vstarcam.avc_config(), None);
    // Bad base64 and empty entries are skipped; at most MAX_PARAMETER_SETS of a kind.
    let many = H264Params::parse(&format!(
        "sprop-parameter-sets=!!,,{}",
        [SPS_B64; MAX_PARAMETER_SETS + 2].join(",")
    ));
    assert_eq!(many.sps.len(), MAX_PARAMETER_SETS);
    // A start code in front.
    assert_eq!(
        strip_start_codes(b"\x00\x00\x00\x01\x67\x42\x00"),
        b"\x67\x42"
    );
    assert_eq!(
        strip_start_codes(b"\x00\x00\x01\x68\xce\x00\x00\x01"),
        b"\x68\xce"
    );
    assert_eq!(strip_start_codes(b"\x01\x02"), b"\x01\x02");
    assert_eq!(strip_start_codes(b"\x00\x00\x00"), b"");
}

#[test]
fn what_we_cannot_carry() {
    let cases: &[(&str, &str, FormatError)] = &[
        (
            "H264/90000",
            "packetization-mode=2",
            FormatError::Unsupported {
                what: "H.264 packetization-mode=2".into(),
            },
        ),
        (
            "H264/8000",
            "",
            FormatError::Invalid {
                what: "H.264 clock rate (must be 90000)",
            },
        ),
        (
            "H265/90000",
            "sprop-max-don-diff=2",
            FormatError::Unsupported {
                what: "H.265 sprop-max-don-diff > 0 (decoding order numbers)".into(),
            },
        ),
        (
            "MP4A-LATM/48000",
            "cpresent=1",
            FormatError::Unsupported {
                what: "MP4A-LATM cpresent=1 (StreamMuxConfig in band; only cpresent=0 is read)"
                    .into(),
            },
        ),
        (
            "mpeg4-generic/8000",
            "mode=CELP-cbr;config=1588",
            FormatError::Unsupported {
                what: "mpeg4-generic mode=CELP-cbr".into(),
            },
        ),
        (
            "mpeg4-generic/44100/2",
            "mode=AAC-hbr",
            FormatError::Missing { what: "config" },
        ),
        (
            "mpeg4-generic/44100/2",
            "config=1210",
            FormatError::Missing { what: "mode" },
        ),
        (
            "mpeg4-generic/44100/2",
            "mode=AAC-hbr;config=121",
            FormatError::Invalid {
                what: "config (hex)",
            },
        ),
        (
            "mpeg4-generic/44100/2",
            "mode=AAC-hbr;config=0000",
            FormatError::Invalid {
                what: "AudioSpecificConfig",
            },
        ),
        (
            "mpeg4-generic/44100/2",
            "mode=AAC-hbr;config=1210;sizelength=33",
            FormatError::Invalid {
                what: "AU-header field length",
            },
        ),
        (
            "mpeg4-generic/44100/2",
            "mode=AAC-hbr;config=1210;sizelength=0",
            FormatError::Invalid {
                what: "sizelength 0 (AAC needs AU sizes)",
            },
        ),
        (
            "opus/8000/1",
            "",
            FormatError::Invalid {
                what: "Opus clock rate (must be 48000)",
            },
        ),
        (
            "PCMA/16000",
            "",
            FormatError::Invalid {
                what: "G.711 clock rate (must be 8000)",
            },
        ),
    ];
    for (rtpmap, fmtp, err) in cases {
        let map = Rtpmap::parse(rtpmap).unwrap();
        assert_eq!(
            PayloadFormat::parse(&map, Some(fmtp)).as_ref(),
            Err(err),
            "{rtpmap} {fmtp}"
        );
    }
    // AAC-lbr defaults.
    let lbr = AacParams::parse("mode=AAC-lbr;config=1210", 44_100).unwrap();
    assert_eq!((lbr.size_length, lbr.index_length), (6, 2));
}

#[test]
fn rtpmap_variants() {
    type Fields<'a> = Option<(&'a str, u32, Option<u16>)>;
    let cases: &[(&str, Fields)] = &[
        ("H264/90000", Some(("H264", 90_000, None))),
        (
            "MPEG4-GENERIC/48000/2",
            Some(("MPEG4-GENERIC", 48_000, Some(2))),
        ),
        (" PCMA/8000 ", Some(("PCMA", 8_000, None))),
        ("H264", None),
        ("H264/0", None),
        ("/90000", None),
        ("L16/44100/0", None),
        ("L16/44100/2/1", None),
        ("H264/x", None),
    ];
    for (text, want) in cases {
        let got = Rtpmap::parse(text);
        assert_eq!(
            got.as_ref()
                .map(|m| (m.encoding.as_str(), m.clock_rate, m.channels)),
            *want,
            "{text}"
        );
        if let Some(map) = got {
            assert_eq!(Rtpmap::parse(&map.encode()), Some(map));
        }
    }
    // Static payload types need no rtpmap; dynamic ones do.
    let sdp = Sdp::parse("v=0\r\nm=audio 0 RTP/AVP 0 96\r\n").unwrap();
    let formats: Vec<_> = sdp.media[0].payload_formats().collect();
    assert_eq!(formats[0], (0, Ok(PayloadFormat::Pcmu { channels: 1 })));
    assert_eq!(
        formats[1],
        (96, Err(FormatError::Missing { what: "a=rtpmap" }))
    );
}

/// The description our server writes for a stream with every codec we carry: golden text,
/// and each track parses back to the format it was made from.
#[test]
fn our_description_round_trips() {
    let avc = avc_config(b64(SPS_B64), b64(PPS_B64)).unwrap();
    let hevc =
        HevcConfig::from_parameter_sets(b64(VPS_H265_B64), b64(SPS_H265_B64), b64(PPS_H265_B64), 4)
            .unwrap();
    let formats = [
        PayloadFormat::H264(H264Params::from_config(&avc)),
        PayloadFormat::Aac(AacParams::hbr(Bytes::from_static(&[0x12, 0x10])).unwrap()),
        PayloadFormat::H265(H265Params::from_config(&hevc)),
        PayloadFormat::Pcma { channels: 1 },
        PayloadFormat::Pcmu { channels: 1 },
        PayloadFormat::Opus(OpusParams { stereo: true }),
    ];
    let media: Vec<Media> = formats
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let pt = f.static_payload_type().unwrap_or(96 + i as u8);
            f.media(pt, &format!("trackID={i}"))
        })
        .collect();
    let text = Sdp::rtsp("live/cam", media).encode();
    assert_eq!(
        text,
        "v=0\r\n\
         o=- 0 0 IN IP4 0.0.0.0\r\n\
         s=live/cam\r\n\
         c=IN IP4 0.0.0.0\r\n\
         t=0 0\r\n\
         a=control:*\r\n\
         a=range:npt=0-\r\n\
         m=video 0 RTP/AVP 96\r\n\
         a=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1;profile-level-id=4D401E;\
         sprop-parameter-sets=Z01AHuygUBf8uAiAAAADAIAAABkHixbL,aOvjyyA=\r\n\
         a=control:trackID=0\r\n\
         m=audio 0 RTP/AVP 97\r\n\
         a=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
         a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;\
         indexdeltalength=3;config=1210\r\n\
         a=control:trackID=1\r\n\
         m=video 0 RTP/AVP 98\r\n\
         a=rtpmap:98 H265/90000\r\n\
         a=fmtp:98 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA/lZgJ;\
         sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA/oAUCAWlllZpJMrwFoCAAAAMAIAAAAwMh;\
         sprop-pps=RAHBcrRiQA==\r\n\
         a=control:trackID=2\r\n\
         m=audio 0 RTP/AVP 8\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=control:trackID=3\r\n\
         m=audio 0 RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=control:trackID=4\r\n\
         m=audio 0 RTP/AVP 101\r\n\
         a=rtpmap:101 opus/48000/2\r\n\
         a=fmtp:101 sprop-stereo=1\r\n\
         a=control:trackID=5\r\n"
    );
    let sdp = Sdp::parse(&text).unwrap();
    for (media, format) in sdp.media.iter().zip(&formats) {
        assert_eq!(&media.payload_format().unwrap().1, format);
    }
    assert_eq!(Sdp::parse(&sdp.encode()).unwrap(), sdp);
}

/// Every AAC field length that is not the default is written and read back.
#[test]
fn aac_params_round_trip() {
    let mut p = AacParams::hbr(Bytes::from_static(&[0x11, 0x90])).unwrap();
    p.cts_delta_length = 16;
    p.random_access_indication = true;
    p.auxiliary_data_size_length = 8;
    p.constant_duration = Some(960);
    let back = AacParams::parse(&p.encode(), p.clock_rate).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.frame_duration(), 960);
}

/// GStreamer's rtpmp4apay (1.2x) with avenc_aac: 44.1 kHz mono AAC-LC. Its StreamMuxConfig
/// carries avenc_aac's 5-byte AudioSpecificConfig (LC, then the backward-compatible SBR
/// extension `0x2b7`, SBR absent) and ends one bit later, without frameLengthType.
#[test]
fn gstreamer_rtpmp4apay_latm() {
    let map = Rtpmap::parse("MP4A-LATM/44100").unwrap();
    let format = PayloadFormat::parse(&map, Some("cpresent=0;config=40002410adca00")).unwrap();
    let PayloadFormat::Latm(ref p) = format else {
        panic!("{format:?}");
    };
    assert_eq!(&p.config[..], &[0x12, 0x08, 0x56, 0xe5, 0x00]);
    let aac = p.aac_config().unwrap();
    assert_eq!(
        (aac.object_type, aac.sample_rate, aac.channels),
        (2, 44_100, 1)
    );
    assert_eq!(p.channels, Some(1));
    assert_eq!(p.frame_duration, 1024);
    assert_eq!(format.clock_rate(), 44_100);
    assert_eq!(format.kind(), "audio");
    // 48 kHz stereo, the same shape.
    let p = LatmParams::parse("cpresent=0;config=40002320adca00", 48_000, Some(2)).unwrap();
    assert_eq!(&p.config[..], &[0x11, 0x90, 0x56, 0xe5, 0x00]);
    // Written back as read.
    assert_eq!(format.rtpmap().encode(), "MP4A-LATM/44100/1");
    assert_eq!(format.fmtp().unwrap(), "cpresent=0;config=40002410ADCA00");
}

/// ffmpeg's rtpenc (`-latm`-style SDP, `profile-level-id=…;cpresent=0;config=…`): a whole
/// StreamMuxConfig, 48 kHz stereo LC, frameLengthType 0, latmBufferFullness 0xff.
#[test]
fn ffmpeg_latm_whole_stream_mux_config() {
    let p = LatmParams::parse(
        "profile-level-id=1; cpresent=0; config=400023203fc0",
        48_000,
        None,
    )
    .unwrap();
    assert_eq!(&p.config[..], &[0x11, 0x90]);
    assert_eq!(p.channels, Some(2));
    // HE-AAC clocked at its output rate: a frame is 2048 ticks.
    let (asc, samples) =
        audio_specific_config(&[0x40, 0x00, 0x56, 0x23, 0x10, 0x1f, 0xe0]).unwrap();
    assert_eq!(
        (asc.as_slice(), samples),
        (&[0x2b, 0x11, 0x88, 0x00][..], 1024)
    );
    let p = LatmParams::parse("cpresent=0;config=40005623101fe0", 48_000, None);
    assert!(p.is_ok(), "{p:?}");
    assert_eq!(p.unwrap().frame_duration, 2048);
}

/// What is refused, each with its reason.
#[test]
fn latm_refusals() {
    let parse = |fmtp| LatmParams::parse(fmtp, 48_000, None);
    let unsupported = |fmtp, what: &str| match parse(fmtp) {
        Err(FormatError::Unsupported { what: got }) => assert!(got.contains(what), "{got}"),
        other => panic!("{fmtp}: {other:?}"),
    };
    unsupported("cpresent=1", "cpresent=1");
    unsupported("config=400023203fc0", "cpresent=1");
    // audioMuxVersion 1.
    unsupported("cpresent=0;config=c00023203fc0", "audioMuxVersion 1");
    // allStreamsSameTimeFraming 0.
    unsupported(
        "cpresent=0;config=000023203fc0",
        "allStreamsSameTimeFraming",
    );
    // numProgram 1, numLayer 1.
    unsupported("cpresent=0;config=401023203fc0", "programs");
    unsupported("cpresent=0;config=400223203fc0", "layers");
    // frameLengthType 1.
    unsupported("cpresent=0;config=400023207fc0", "frameLengthType");
    // otherDataPresent.
    unsupported("cpresent=0;config=400023203fe0", "otherDataPresent");
    // channelConfiguration 0 (a program_config_element).
    unsupported("cpresent=0;config=400023003fc0", "channelConfiguration 0");
    // Audio object type 17 (ER AAC LC).
    unsupported("cpresent=0;config=400113203fc0", "audio object type 17");
    assert!(matches!(
        parse("cpresent=0"),
        Err(FormatError::Missing { .. })
    ));
    assert!(matches!(
        parse("cpresent=0;config=4000232"),
        Err(FormatError::Invalid { .. })
    ));
    assert!(matches!(
        parse("cpresent=0;config=4000"),
        Err(FormatError::Invalid { .. })
    ));
    let long = format!(
        "cpresent=0;config={}",
        "40".repeat(MAX_STREAM_MUX_CONFIG + 1)
    );
    assert!(matches!(parse(&long), Err(FormatError::Invalid { .. })));
}

/// Every prefix of a StreamMuxConfig and every byte of it changed: an answer, no panic.
#[test]
fn stream_mux_config_cut_and_mutated() {
    let config = [0x40, 0x00, 0x24, 0x10, 0xad, 0xca, 0x00];
    for cut in 0..config.len() {
        let _ = audio_specific_config(&config[..cut]);
    }
    for i in 0..config.len() {
        for v in 0..=255u8 {
            let mut c = config;
            c[i] = v;
            if let Ok((asc, _)) = audio_specific_config(&c) {
                assert!(asc.len() <= c.len());
            }
        }
    }
}
