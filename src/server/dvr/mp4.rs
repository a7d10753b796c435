//! Fragmented-MP4 recordings ([`Mp4`]): `ftyp` + `moov` (with `mvex`) once, then one `moof` +
//! `mdat` per fragment, so that a file cut by a power failure plays up to its last complete
//! fragment (the repair at start cuts it there with `wire::mp4::Scanner`).
//!
//! What a caller must know:
//! * Frames are held until their fragment is cut, then written in one go: `moof` and the
//!   `mdat` header copied into the batch, sample payloads referenced. A fragment is cut before
//!   a video keyframe (one fragment per GOP), before the frame that would make it last
//!   `dvr_fragment` seconds or more (audio-only streams, long GOPs), and before the frame
//!   that would take it past [`MAX_PENDING_BYTES`] or `wire::mp4`'s sample count.
//! * The tracks are fixed by the first fragment: the video and audio sequence headers known
//!   then (for MP3, which has none, its first frame). A track MP4 cannot carry (G.711,
//!   Speex...) or whose configuration does not parse is left out with one log line per file;
//!   so is a track whose sequence header comes after the first fragment.
//! * Times are the file's milliseconds: video in a 1 ms timescale, audio converted to its
//!   sampling rate; the composition offset is the hub's `cts`. A decode time that goes back
//!   is held at the previous one.
//! * Nothing is rewritten at close: the last fragment is the file's end.

use bytes::{Bytes, BytesMut};

use super::format::{Batch, Format, Headers, Patch};
use crate::media::{Codec, Frame, FrameKind};
use crate::wire::mp4::{
    fourcc, Fragment, InitSegment, Mp4Error, Run, Sample, Track, MAX_FRAGMENT_SAMPLES, MAX_TRACKS,
};

/// The most payload bytes one pending fragment holds before it is cut early, whatever its
/// duration: a 4 s GOP at 8 Mbit/s. The frames are the hub's (referenced, not copied), but a
/// frame held here outlives the GOP cache, so this is what recording one stream in MP4 may
/// keep alive beyond `dvr_queue_bytes`. RAM: up to this much per stream recorded in MP4.
pub const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// One frame waiting for its fragment, on the file's timeline (ms).
#[derive(Debug)]
struct Pending {
    ts: u32,
    cts: i32,
    keyframe: bool,
    data: Bytes,
}

/// One track's frames of the pending fragment and where its samples are in the file.
#[derive(Debug, Default)]
struct Lane {
    frames: Vec<Pending>,
    /// The track's ID once the init segment is written (`None`: left out).
    track_id: Option<u32>,
    /// The decode time (track ticks) of the last sample written, which the next may not
    /// precede.
    last_dts: u64,
}

/// A fragmented-MP4 file; see the module doc.
#[derive(Debug)]
pub struct Mp4 {
    /// Where it is written, for the log lines.
    name: String,
    fragment_ms: u32,
    /// The codec configurations known (sequence header payloads) for the tracks.
    video_config: Option<(Codec, Bytes)>,
    audio_config: Option<(Codec, Bytes)>,
    /// Written once the first fragment is cut.
    init: Option<InitSegment>,
    video: Lane,
    audio: Lane,
    /// The first MP3 frame, the configuration of an MP3 track.
    first_mp3: Option<Bytes>,
    /// The codec of the audio frames, for the log line when the track is left out.
    audio_codec: Option<Codec>,
    /// The tracks were chosen (the first fragment was cut).
    started: bool,
    /// Payload bytes held, and the file time of the first frame held.
    pending_bytes: usize,
    start_ts: Option<u32>,
    sequence: u32,
    /// A fragment went into the batch since [`Format::ready`] was last asked.
    cut: bool,
}

impl Mp4 {
    /// A file named `name` (for log lines), cutting fragments every `fragment_ms` at most.
    pub fn new(name: String, fragment_ms: u32) -> Mp4 {
        Mp4 {
            name,
            fragment_ms: fragment_ms.max(1),
            video_config: None,
            audio_config: None,
            init: None,
            video: Lane::default(),
            audio: Lane::default(),
            first_mp3: None,
            audio_codec: None,
            started: false,
            pending_bytes: 0,
            start_ts: None,
            sequence: 0,
            cut: false,
        }
    }

    fn pending_samples(&self) -> usize {
        self.video.frames.len() + self.audio.frames.len()
    }

    /// Whether the fragment is cut before `frame` at `ts`, with `len` bytes of payload.
    fn cuts_before(&self, frame: &Frame, ts: u32, len: usize) -> bool {
        let Some(start) = self.start_ts else {
            return false;
        };
        (frame.kind == FrameKind::Video && frame.keyframe)
            || ts.wrapping_sub(start) >= self.fragment_ms
            || self.pending_bytes + len > MAX_PENDING_BYTES
            || self.pending_samples() >= MAX_FRAGMENT_SAMPLES
    }

    /// The tracks of the file, from the headers and the frames of the first fragment; logs
    /// the ones left out.
    fn start(&mut self, out: &mut Batch) {
        let mut tracks = Vec::with_capacity(MAX_TRACKS);
        let mut lanes = Vec::with_capacity(MAX_TRACKS);
        if let Some((codec, config)) = &self.video_config {
            if let Codec::Video(codec) = *codec {
                match Track::video(codec, config.clone()) {
                    Ok(t) => {
                        tracks.push(t);
                        lanes.push(true);
                    }
                    Err(e) => self.leave_out(&e),
                }
            }
        } else if !self.video.frames.is_empty() {
            log::info!(
                "dvr {}: video without a sequence header left out",
                self.name
            );
        }
        let audio_config = match &self.audio_config {
            Some(c) => Some(c.clone()),
            None => self
                .first_mp3
                .clone()
                .map(|f| (Codec::Audio(crate::media::AudioCodec::Mp3), f)),
        };
        match audio_config {
            Some((Codec::Audio(codec), config)) => match Track::audio(codec, config) {
                Ok(t) => {
                    tracks.push(t);
                    lanes.push(false);
                }
                Err(e) => self.leave_out(&e),
            },
            _ if !self.audio.frames.is_empty() => {
                if let Some(Codec::Audio(codec)) = self.audio_codec {
                    self.leave_out(&Mp4Error::UnsupportedAudio(codec));
                }
            }
            _ => {}
        }
        if tracks.is_empty() {
            return;
        }
        match InitSegment::new(tracks) {
            Ok(init) => {
                for (i, video) in lanes.into_iter().enumerate() {
                    let lane = if video {
                        &mut self.video
                    } else {
                        &mut self.audio
                    };
                    lane.track_id = Some(i as u32 + 1);
                }
                let mut head = BytesMut::with_capacity(init.encoded_len());
                init.encode(&mut head);
                out.put(&head);
                self.init = Some(init);
            }
            Err(e) => log::warn!("dvr {}: no MP4 init segment: {e}", self.name),
        }
    }

    fn leave_out(&self, error: &Mp4Error) {
        log::info!("dvr {}: track left out of the MP4: {error}", self.name);
    }

    /// Writes the pending frames as one fragment (the file's first writes its init segment
    /// before it). `next_ts`: the time of the frame after them, which ends the last samples.
    fn cut(&mut self, next_ts: Option<u32>, out: &mut Batch) {
        if self.start_ts.take().is_none() {
            return;
        }
        self.pending_bytes = 0;
        if !std::mem::replace(&mut self.started, true) {
            self.start(out);
        }
        let video = std::mem::take(&mut self.video.frames);
        let audio = std::mem::take(&mut self.audio.frames);
        let Some(init) = &self.init else {
            return;
        };
        let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
        let mut ends = [None, None];
        for (i, (lane, frames)) in [(&mut self.video, video), (&mut self.audio, audio)]
            .into_iter()
            .enumerate()
        {
            let Some(track) = lane.track_id.and_then(|id| init.track(id)) else {
                continue;
            };
            let video = track.is_video();
            for f in frames {
                let dts = track.ticks(u64::from(f.ts)).max(lane.last_dts);
                lane.last_dts = dts;
                let cts = if video && f.cts != 0 {
                    // The composition offset in ms; video's timescale is 1 ms.
                    i32::try_from(track.ticks(u64::from(f.cts.unsigned_abs()))).map_or(0, |t| {
                        if f.cts < 0 {
                            -t
                        } else {
                            t
                        }
                    })
                } else {
                    0
                };
                samples[i].push(Sample {
                    dts,
                    // AV1 has no composition offsets (AV1-ISOBMFF §2.4).
                    cts: if track.sample_entry() == fourcc::AV01 {
                        0
                    } else {
                        cts
                    },
                    keyframe: !video || f.keyframe,
                    data: f.data,
                });
            }
            ends[i] = next_ts.map(|ts| track.ticks(u64::from(ts)).max(lane.last_dts));
        }
        let runs: Vec<Run<'_>> = [&self.video, &self.audio]
            .into_iter()
            .zip(samples.iter().zip(ends))
            .filter_map(|(lane, (samples, end_dts))| {
                Some(Run {
                    track_id: lane.track_id?,
                    samples,
                    end_dts,
                })
            })
            .collect();
        // The scanner wants the numbers to grow: 2^32 fragments is a century of 1 s ones.
        self.sequence = self.sequence.saturating_add(1);
        let fragment = match Fragment::new(init, self.sequence, &runs) {
            Ok(f) => f,
            Err(Mp4Error::EmptyFragment) => return,
            Err(e) => {
                log::warn!("dvr {}: fragment dropped: {e}", self.name);
                return;
            }
        };
        let mut head = BytesMut::with_capacity(fragment.encoded_len());
        fragment.encode(&mut head);
        out.put(&head);
        for chunk in fragment.chunks() {
            out.put_shared(chunk);
        }
        self.cut = true;
    }
}

/// A frame's codec and its payload after the tag header.
fn config(frame: &Frame) -> (Codec, Bytes) {
    let at = frame.payload_offset.min(frame.data.len());
    (frame.codec, frame.data.slice(at..))
}

impl Format for Mp4 {
    fn begin(&mut self, headers: &Headers, _ts: u32, _out: &mut Batch) {
        self.video_config = headers.video.as_deref().map(config);
        self.audio_config = headers.audio.as_deref().map(config);
    }

    fn frame(&mut self, frame: &Frame, ts: u32, out: &mut Batch) {
        if frame.kind == FrameKind::Metadata {
            return;
        }
        if frame.sequence_header {
            // Before the first fragment it joins the file's tracks; after, a codec change
            // needs a new file and is left out.
            if !self.started {
                match frame.kind {
                    FrameKind::Video => self.video_config = Some(config(frame)),
                    _ => self.audio_config = Some(config(frame)),
                }
            }
            return;
        }
        let (_, data) = config(frame);
        // An RTMP end of sequence (or an empty frame) is no sample.
        if data.is_empty() {
            return;
        }
        if self.cuts_before(frame, ts, data.len()) {
            self.cut(Some(ts), out);
        }
        let lane = match frame.kind {
            FrameKind::Video => &mut self.video,
            _ => {
                self.audio_codec.get_or_insert(frame.codec);
                if frame.codec == Codec::Audio(crate::media::AudioCodec::Mp3) {
                    self.first_mp3.get_or_insert_with(|| data.clone());
                }
                &mut self.audio
            }
        };
        if self.started && lane.track_id.is_none() {
            return;
        }
        self.start_ts.get_or_insert(ts);
        self.pending_bytes += data.len();
        lane.frames.push(Pending {
            ts,
            cts: frame.cts,
            keyframe: frame.keyframe,
            data,
        });
    }

    fn finish(&mut self, _duration_ms: u32, out: &mut Batch) -> Vec<Patch> {
        self.cut(None, out);
        Vec::new()
    }

    fn ready(&mut self) -> bool {
        std::mem::take(&mut self.cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AudioCodec, SharedFrame, VideoCodec};
    use crate::wire::flv::{self, FlvReader, TagType};
    use std::rc::Rc;

    const CAPTURE: &[u8] = include_bytes!("../../../tests/data/ffmpeg-5.1-h264-aac-1s.flv");

    /// The capture's tags as the hub's frames: (headers, media frames).
    fn frames() -> (Headers, Vec<SharedFrame>) {
        let mut reader = FlvReader::new(1 << 20);
        let mut input = BytesMut::from(CAPTURE);
        let (mut headers, mut out) = (Headers::default(), Vec::new());
        while let Some(tag) = reader.decode(&mut input).unwrap() {
            let ts = i64::from(tag.timestamp);
            match tag.tag_type {
                TagType::Video => {
                    let v = flv::parse_video(&tag.body).unwrap();
                    let f = Rc::new(Frame::video(
                        VideoCodec::Avc,
                        ts,
                        v.composition_time,
                        v.keyframe,
                        v.sequence_header,
                        tag.body.clone(),
                        v.payload_offset,
                    ));
                    if v.sequence_header {
                        headers.video = Some(f);
                    } else {
                        out.push(f);
                    }
                }
                TagType::Audio => {
                    let a = flv::parse_audio(&tag.body).unwrap();
                    let f = Rc::new(Frame::audio(
                        AudioCodec::Aac,
                        ts,
                        a.sequence_header,
                        tag.body.clone(),
                        a.payload_offset,
                    ));
                    if a.sequence_header {
                        headers.audio = Some(f);
                    } else {
                        out.push(f);
                    }
                }
                _ => {}
            }
        }
        (headers, out)
    }

    /// Writes `frames` (from the first keyframe) as a file, its bytes and how often the
    /// format said a fragment was ready.
    fn write(mp4: &mut Mp4, headers: &Headers, frames: &[SharedFrame]) -> (Vec<u8>, usize) {
        let mut batch = Batch::new();
        mp4.begin(headers, 0, &mut batch);
        let mut ready = 0;
        for f in frames {
            mp4.frame(f, f.dts as u32, &mut batch);
            ready += usize::from(mp4.ready());
        }
        mp4.finish(0, &mut batch);
        let (chunks, _) = batch.take();
        (chunks.concat(), ready)
    }

    #[test]
    fn a_recording_is_an_init_segment_and_whole_fragments() {
        let (headers, frames) = frames();
        // The end of sequence (a keyframe without payload) is no sample.
        let keyframes = frames
            .iter()
            .filter(|f| f.is_video_keyframe() && f.data.len() > f.payload_offset)
            .count();
        let mut mp4 = Mp4::new("test".into(), 1000);
        let (file, ready) = write(&mut mp4, &headers, &frames);
        assert_eq!(&file[4..8], b"ftyp");
        let scan = crate::wire::mp4::scan(&file).unwrap();
        assert_eq!(scan.end, file.len() as u64, "{scan:?}");
        // One per keyframe (the first opens the file) or second, and the last at finish.
        assert!(
            scan.fragments as usize >= keyframes,
            "{keyframes} keyframes, {scan:?}"
        );
        assert_eq!(ready + 1, scan.fragments as usize);

        // Shorter fragments: more of them, the same samples.
        let mut short = Mp4::new("test".into(), 100);
        let (file, _) = write(&mut short, &headers, &frames);
        let more = crate::wire::mp4::scan(&file).unwrap();
        assert!(more.fragments > scan.fragments, "{more:?} vs {scan:?}");
        assert_eq!(more.end, file.len() as u64);
    }

    #[test]
    fn g711_is_left_out_and_the_video_kept() {
        let (mut headers, frames) = frames();
        headers.audio = None;
        let alaw = |dts| {
            Rc::new(Frame::audio(
                AudioCodec::G711A,
                dts,
                false,
                Bytes::from_static(&[0x72, 1, 2, 3]),
                1,
            ))
        };
        let mixed: Vec<SharedFrame> = frames
            .iter()
            .filter(|f| f.kind == FrameKind::Video)
            .flat_map(|f| [f.clone(), alaw(f.dts)])
            .collect();
        let mut mp4 = Mp4::new("test".into(), 1000);
        let (file, _) = write(&mut mp4, &headers, &mixed);
        assert_eq!(mp4.audio.track_id, None);
        assert_eq!(mp4.video.track_id, Some(1));
        let scan = crate::wire::mp4::scan(&file).unwrap();
        assert!(scan.fragments > 0 && scan.end == file.len() as u64);
        assert_eq!(mp4.init.as_ref().map(|i| i.tracks().len()), Some(1));
    }

    #[test]
    fn a_fragment_is_cut_early_at_its_byte_limit() {
        let (headers, frames) = frames();
        let first = frames.iter().find(|f| f.is_video_keyframe()).unwrap();
        // Frames of a third of the limit, 10 ms apart, no keyframe after the first.
        let big = Bytes::from(vec![0u8; MAX_PENDING_BYTES / 3]);
        let mut body = BytesMut::from(&first.data[..first.payload_offset]);
        body[0] = 0x27;
        body.extend_from_slice(&big);
        let body = body.freeze();
        let mut all = vec![first.clone()];
        all.extend((1..10).map(|i| {
            Rc::new(Frame::video(
                VideoCodec::Avc,
                i * 10,
                0,
                false,
                false,
                body.clone(),
                first.payload_offset,
            ))
        }));
        let mut mp4 = Mp4::new("test".into(), 60_000);
        let (file, _) = write(&mut mp4, &headers, &all);
        let scan = crate::wire::mp4::scan(&file).unwrap();
        // 3 frames a fragment at most, the first with the small keyframe.
        assert_eq!(scan.fragments, 4, "{scan:?}");
    }
}
