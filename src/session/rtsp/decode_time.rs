//! Decode times for video that RTP carries with presentation times only. The RTP timestamp
//! of a picture is its sampling instant (RFC 6184 §5.1, RFC 7798 §4.1), its PTS; packets come
//! in decode order. Without B-frames PTS grows and serves as DTS. With B-frames it does not:
//! a P-picture's PTS runs ahead of the pictures decoded before it, and a hub frame's DTS must
//! grow (the Source corrects any backward step of more than 250 ms into a 10 ms step forward,
//! against the audio interleaved with the video; a stream whose video DTS is its PTS gets
//! such a step every few pictures, and its timeline runs ahead of the clock: a player that
//! counts time stops early).
//!
//! What a caller must know:
//!
//! * Until a picture's PTS goes backwards, each one is given out at once with DTS = PTS
//!   (cameras send no B-frames; nothing waits). The pictures around the first backward step
//!   come after a DTS already given out at its PTS: they get the next milliseconds, a
//!   negative composition offset, until the held pictures' PTS catch up (one mini-GOP).
//! * From then on, each picture is held until [`DEPTH`] more have come, and given out with
//!   DTS = the smallest PTS among it and them, minus [`DEPTH`] ms, and at least 1 ms after the
//!   last DTS. So DTS grows, stays at or below PTS while the reordering is at most [`DEPTH`]
//!   pictures deep (x264/x265 presets use 3 B-frames at most; 4 with x265's defaults), and
//!   lags the true decode time by at most the reordering's span. Deeper reordering gives a
//!   negative composition offset to the pictures it reaches, not a DTS going backwards.
//! * Memory: [`DEPTH`] + 1 held items at most, and at most [`HOLD_BYTES`] in all (past it the
//!   oldest goes out early, with the window it has); latency: [`DEPTH`] pictures, once
//!   reordering was seen.

use std::collections::VecDeque;

/// Pictures held to find a DTS once reordering was seen. Why: a P-picture followed by up to
/// `DEPTH` B-pictures it precedes in decode order finds the smallest of their PTS.
pub const DEPTH: usize = 4;

/// Bytes of held pictures at most. Why: the P- and B-pictures of a 4 Mbit/s stream are tens
/// of KiB; a keyframe over the cap goes out at once, which costs nothing (in a closed GOP it
/// has the lowest PTS of those that follow). RAM: per video track of a B-frame stream
/// (pulled camera or RTSP publisher).
pub const HOLD_BYTES: usize = 256 * 1024;

/// Gives decode times to items (pictures, and sequence headers in their place) that come in
/// decode order with their presentation times.
#[derive(Debug)]
pub struct DecodeTimes<T> {
    held: VecDeque<(i64, usize, T)>,
    held_bytes: usize,
    /// A PTS went backwards: pictures are held from then on.
    reordered: bool,
    last_pts: Option<i64>,
    last_dts: Option<i64>,
}

impl<T> Default for DecodeTimes<T> {
    fn default() -> Self {
        DecodeTimes {
            held: VecDeque::new(),
            held_bytes: 0,
            reordered: false,
            last_pts: None,
            last_dts: None,
        }
    }
}

impl<T> DecodeTimes<T> {
    /// Whether reordering was seen (pictures are held).
    pub fn reordered(&self) -> bool {
        self.reordered
    }

    /// One item of `len` bytes with its PTS (ms); what can be given out goes to `out` as
    /// (DTS, PTS, item).
    pub fn push(&mut self, pts: i64, len: usize, item: T, out: &mut Vec<(i64, i64, T)>) {
        if self.last_pts.is_some_and(|last| pts < last) {
            self.reordered = true;
        }
        self.last_pts = Some(pts);
        if !self.reordered {
            // A sequence header and its keyframe share a time: DTS = PTS as they come.
            self.last_dts = Some(pts);
            out.push((pts, pts, item));
            return;
        }
        self.held.push_back((pts, len, item));
        self.held_bytes += len;
        while self.held.len() > DEPTH || (self.held_bytes > HOLD_BYTES && !self.held.is_empty()) {
            self.release(out);
        }
    }

    /// Gives out everything held (the stream ends).
    pub fn flush(&mut self, out: &mut Vec<(i64, i64, T)>) {
        while !self.held.is_empty() {
            self.release(out);
        }
    }

    fn release(&mut self, out: &mut Vec<(i64, i64, T)>) {
        let lowest = self.held.iter().map(|(pts, _, _)| *pts).min();
        let Some((pts, len, item)) = self.held.pop_front() else {
            return;
        };
        self.held_bytes -= len;
        let dts = self.next_dts(lowest.unwrap_or(pts) - DEPTH as i64);
        out.push((dts, pts, item));
    }

    /// `wanted`, or 1 ms after the last DTS when that is not later.
    fn next_dts(&mut self, wanted: i64) -> i64 {
        let dts = match self.last_dts {
            Some(last) if wanted <= last => last + 1,
            _ => wanted,
        };
        self.last_dts = Some(dts);
        dts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pts: &[i64]) -> Vec<(i64, i64)> {
        let mut d = DecodeTimes::default();
        let mut out = Vec::new();
        for (i, &p) in pts.iter().enumerate() {
            d.push(p, 100, i, &mut out);
        }
        d.flush(&mut out);
        // Given out in the order they came.
        assert!(out.iter().enumerate().all(|(i, o)| o.2 == i));
        out.into_iter().map(|(dts, pts, _)| (dts, pts)).collect()
    }

    #[test]
    fn without_b_frames_dts_is_pts_at_once() {
        let mut d = DecodeTimes::default();
        let mut out = Vec::new();
        for p in [0, 40, 80, 120] {
            d.push(p, 100, (), &mut out);
            assert_eq!(out.pop(), Some((p, p, ())));
        }
        assert!(!d.reordered());
    }

    #[test]
    fn a_b_pyramid_gets_growing_dts_at_or_below_pts() {
        // x264/x265 ultrafast with 3 B-frames at 25 fps: I P B B B P B B B..., decode order.
        let mut pts = vec![0, 160, 80, 40, 120];
        for gop in 1..6 {
            let base = 160 * gop;
            pts.extend([base + 160, base + 80, base + 40, base + 120]);
        }
        let out = run(&pts);
        assert_eq!(out.len(), pts.len());
        for w in out.windows(2) {
            assert!(w[1].0 > w[0].0, "DTS {} after {}", w[1].0, w[0].0);
        }
        // The first P is given out at its PTS before the first B shows the reordering: its
        // mini-GOP follows that DTS.
        assert_eq!(
            &out[..5],
            [(0, 0), (160, 160), (161, 80), (162, 40), (163, 120)]
        );
        for &(dts, pts) in &out[5..] {
            assert!(dts <= pts, "DTS {dts} after PTS {pts}");
            // Close to the decode time: within the reordering's span.
            assert!(pts - dts <= 160, "DTS {dts} far behind PTS {pts}");
        }
        // Steady state: a DTS per picture, 40 ms apart on average over a mini-GOP.
        let n = out.len();
        assert_eq!(out[n - 5].0 - out[n - 9].0, 160, "{out:?}");
    }

    #[test]
    fn held_bytes_are_capped() {
        let mut d = DecodeTimes::default();
        let mut out = Vec::new();
        d.push(0, 10, 0, &mut out);
        d.push(160, 10, 1, &mut out);
        d.push(80, HOLD_BYTES, 2, &mut out);
        assert_eq!(out.len(), 2);
        d.push(40, 10, 3, &mut out);
        // Past the cap, the oldest go out until the rest fit.
        assert_eq!(out.iter().map(|o| o.2).collect::<Vec<_>>(), [0, 1, 2]);
        for w in out.windows(2) {
            assert!(w[1].0 > w[0].0, "{out:?}");
        }
    }

    #[test]
    fn reordering_deeper_than_depth_keeps_dts_growing() {
        let out = run(&[0, 400, 80, 40, 120, 160, 200, 240, 280, 320, 360, 440]);
        for w in out.windows(2) {
            assert!(w[1].0 > w[0].0, "{out:?}");
        }
    }
}
