//! Prometheus's text exposition format 0.0.4 (what `/metrics` answers): `# HELP` and `# TYPE`
//! lines, then `name{label="value",...} value` samples. A writer only; nothing is parsed.
//!
//! What a caller must know:
//! - Values are integers, or integers with a fixed number of decimals written by hand
//!   ([`Exposition::sample_fixed`]): no float formatting (std's is about 20 KB of the router
//!   binary).
//! - Label values are escaped as the format says (`\\`, `\"`, `\n`); names are the caller's
//!   constants and are not checked.
//! - The text is capped: once it has reached `cap` bytes, [`Exposition::room`] is false and
//!   further samples are dropped (and counted in [`Exposition::dropped`]), so a scrape never
//!   grows past `cap` plus one line. A family header is written even when full, so the text
//!   stays valid; callers write their bounded, global figures first.

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metric types used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A document being written.
#[derive(Debug)]
pub struct Exposition {
    text: String,
    cap: usize,
    dropped: u64,
}

impl Exposition {
    /// An empty document that takes samples up to about `cap` bytes.
    pub fn new(cap: usize) -> Exposition {
        Exposition {
            text: String::new(),
            cap,
            dropped: 0,
        }
    }

    /// Whether more samples fit.
    pub fn room(&self) -> bool {
        self.text.len() < self.cap
    }

    /// Samples left out for want of room.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `# HELP name help` and `# TYPE name kind`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let t = &mut self.text;
        t.push_str("# HELP ");
        t.push_str(name);
        t.push(' ');
        t.push_str(help);
        t.push_str("\n# TYPE ");
        t.push_str(name);
        t.push_str(match kind {
            Kind::Gauge => " gauge\n",
            Kind::Counter => " counter\n",
        });
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        if self.start(name, labels) {
            push_u64(&mut self.text, value);
            self.text.push('\n');
        }
    }

    /// `name{labels} value` for `value / 10^decimals`, written with `decimals` digits after
    /// the point (`sample_fixed(.., 1234, 2)` is `12.34`).
    pub fn sample_fixed(&mut self, name: &str, labels: &[(&str, &str)], value: u64, decimals: u32) {
        if self.start(name, labels) {
            push_fixed(&mut self.text, value, decimals);
            self.text.push('\n');
        }
    }

    /// Takes every further sample, room or not (for a last, small figure).
    pub fn lift_cap(&mut self) {
        self.cap = usize::MAX;
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }

    /// Writes `name{labels} ` if there is room.
    fn start(&mut self, name: &str, labels: &[(&str, &str)]) -> bool {
        if !self.room() {
            self.dropped += 1;
            return false;
        }
        let t = &mut self.text;
        t.push_str(name);
        if !labels.is_empty() {
            t.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                t.push_str(k);
                t.push_str("=\"");
                push_escaped(t, v);
                t.push('"');
            }
            t.push('}');
        }
        t.push(' ');
        true
    }
}

/// A label value with `\`, `"` and line feeds escaped.
fn push_escaped(t: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => t.push_str("\\\\"),
            '"' => t.push_str("\\\""),
            '\n' => t.push_str("\\n"),
            c => t.push(c),
        }
    }
}

/// `v` in decimal.
pub fn push_u64(t: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        t.push(char::from(d));
    }
}

/// `v / 10^decimals` with `decimals` digits after the point.
fn push_fixed(t: &mut String, v: u64, decimals: u32) {
    let scale = 10u64.saturating_pow(decimals);
    push_u64(t, v / scale);
    if decimals > 0 {
        t.push('.');
        let frac = v % scale;
        let mut div = scale / 10;
        while div > 0 {
            t.push(char::from(b'0' + (frac / div % 10) as u8));
            div /= 10;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_labels() {
        let mut e = Exposition::new(1 << 20);
        e.single("srs_streams", Kind::Gauge, "Streams.", 3);
        e.family("x_total", Kind::Counter, "X.");
        e.sample("x_total", &[("app", "live"), ("stream", "a\"b\\c\nd")], 0);
        e.sample_fixed("y", &[], 1234, 2);
        e.sample_fixed("y", &[], 5, 4);
        e.sample_fixed("y", &[], 7, 0);
        e.sample("z", &[], u64::MAX);
        assert_eq!(
            e.finish(),
            "# HELP srs_streams Streams.\n# TYPE srs_streams gauge\nsrs_streams 3\n\
             # HELP x_total X.\n# TYPE x_total counter\n\
             x_total{app=\"live\",stream=\"a\\\"b\\\\c\\nd\"} 0\n\
             y 12.34\ny 0.0005\ny 7\nz 18446744073709551615\n"
        );
    }

    #[test]
    fn samples_stop_at_the_cap() {
        let mut e = Exposition::new(30);
        e.family("a", Kind::Gauge, "A.");
        for _ in 0..10 {
            e.sample("a", &[("k", "v")], 1);
        }
        assert!(!e.room());
        assert_eq!(e.dropped(), 9);
        assert!(e.finish().ends_with("a{k=\"v\"} 1\n"));
    }
}
