//! A vhost's recording settings (SRS: `vhost { dvr { ... } }`) and the `dvr_path` template.
//!
//! The template language is SRS's (`srs_path_build_stream`, `srs_path_build_timestamp`):
//! `[vhost] [app] [stream]` name the stream, `[timestamp]` is the Unix time in ms, and the Go
//! layout parts `[2006] [01] [02] [15] [04] [05] [999]` are the year, month, day, hour, minute,
//! second and millisecond of the local time (SRS uses `localtime_r`; a board without a time
//! zone is on UTC). A path that does not end in `.flv` or `.mp4` is a directory, to which
//! `/[stream].[timestamp].flv` is added (SRS's rule). The extension chooses the format: `.flv`
//! or `.mp4` (fragmented MP4).
//!
//! Beyond SRS: a template is refused when it names an unknown variable, and when its static
//! part (before the first `[`) has no directory of its own: that directory is the DVR root,
//! where loop recording (`dvr_max_bytes`, `dvr_min_free_bytes`) deletes old recordings and
//! where leftovers of a power cut are repaired, so it must not be `/` or the working
//! directory. Names from clients are made safe before they go into a path (see
//! [`DvrPath::expand`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use toml::de::DeValue;
use toml::Spanned;

use super::schema::{int_in, invalid_type, FromToml, Int, Invalid, Item, Keyword, Value};
use super::section::{compiled_in, no_hook, Show};
use crate::live::jitter::TimeJitter;
use crate::wire::date::civil_from_days;

keywords! {
    /// When a recording file ends (`dvr.dvr_plan`, SRS: `dvr_plan`).
    pub enum DvrPlan {
        /// One file per publish.
        Session = "session",
        /// A new file at the first keyframe after `dvr_duration` seconds.
        Segment = "segment",
    }
}

/// The file format, from the extension of `dvr_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DvrFormat {
    Flv,
    /// Fragmented MP4 (`server::dvr::mp4`).
    Mp4,
}

impl DvrFormat {
    /// The extension, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            DvrFormat::Flv => ".flv",
            DvrFormat::Mp4 => ".mp4",
        }
    }
}

/// Which streams of the vhost are recorded (`dvr.dvr_apply`, SRS: `dvr_apply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DvrApply {
    All,
    /// `app/stream` names.
    Streams(Vec<String>),
}

impl DvrApply {
    pub fn applies(&self, app: &str, stream: &str) -> bool {
        match self {
            DvrApply::All => true,
            DvrApply::Streams(names) => names.iter().any(|n| {
                n.len() == app.len() + 1 + stream.len()
                    && n.starts_with(app)
                    && n[app.len()..].starts_with('/')
                    && n.ends_with(stream)
            }),
        }
    }
}

impl Value<DvrApply> for DvrApply {
    fn into_value(self) -> DvrApply {
        self
    }
}

/// `"all"`, SRS's space-separated `"live/a live/b"`, or `["live/a", "live/b"]`.
impl FromToml for DvrApply {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        const EXPECTED: &str = "\"all\" or a list of \"app/stream\"";
        let names: Vec<String> = match item.get_ref() {
            DeValue::String(s) if &**s == "all" => return Ok(DvrApply::All),
            DeValue::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            DeValue::Array(_) => Vec::<String>::from_toml(item)?,
            _ => return Err(invalid_type(item, &EXPECTED)),
        };
        for name in &names {
            let valid =
                matches!(name.rsplit_once('/'), Some((a, s)) if !a.is_empty() && !s.is_empty());
            if !valid {
                return Err(Invalid {
                    span: item.span(),
                    message: format!("expected {EXPECTED}, found {name:?}"),
                });
            }
        }
        Ok(DvrApply::Streams(names))
    }
}

impl Show for DvrApply {
    fn show(&self) -> String {
        match self {
            DvrApply::All => "all".to_owned(),
            DvrApply::Streams(names) => format!("{names:?}"),
        }
    }
}

/// When recordings are flushed to the medium (`dvr.dvr_sync`, ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DvrSync {
    /// `fsync` when a file closes (and its directory after the rename).
    Segment,
    /// Never: the kernel writes back when it wants (about 30 s on Linux).
    None,
    /// Also every this many seconds while a file is written.
    Interval(u32),
}

impl Value<DvrSync> for DvrSync {
    fn into_value(self) -> DvrSync {
        self
    }
}

impl FromToml for DvrSync {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        const EXPECTED: &str = "\"segment\", \"none\" or a number of seconds in 1..=3600";
        match item.get_ref() {
            DeValue::String(s) if &**s == "segment" => Ok(DvrSync::Segment),
            DeValue::String(s) if &**s == "none" => Ok(DvrSync::None),
            DeValue::Integer(_) => Ok(DvrSync::Interval(int_in(item, 1, 3600)? as u32)),
            DeValue::String(s) => Err(Invalid {
                span: item.span(),
                message: format!("expected {EXPECTED}, found {:?}", &**s),
            }),
            _ => Err(invalid_type(item, &EXPECTED)),
        }
    }
}

impl Show for DvrSync {
    fn show(&self) -> String {
        match self {
            DvrSync::Segment => "segment".to_owned(),
            DvrSync::None => "none".to_owned(),
            DvrSync::Interval(s) => s.to_string(),
        }
    }
}

/// One piece of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Vhost,
    App,
    Stream,
    /// `[timestamp]`: Unix time in ms.
    Timestamp,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

const VARIABLES: &[(&str, Part)] = &[
    ("vhost", Part::Vhost),
    ("app", Part::App),
    ("stream", Part::Stream),
    ("timestamp", Part::Timestamp),
    ("2006", Part::Year),
    ("01", Part::Month),
    ("02", Part::Day),
    ("15", Part::Hour),
    ("04", Part::Minute),
    ("05", Part::Second),
    ("999", Part::Millisecond),
];

/// A wall-clock instant with the local time zone's offset, for file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub unix_ms: u64,
    /// Local time minus UTC, in seconds (0 on a board without a time zone).
    pub utc_offset_s: i32,
}

/// `dvr.dvr_path`, parsed: see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvrPath {
    /// As written in the file.
    pub written: String,
    parts: Vec<Part>,
    pub format: DvrFormat,
    /// The directory every recording of this template is under.
    pub root: PathBuf,
}

impl Default for DvrPath {
    fn default() -> Self {
        DvrPath::parse("./dvr/[app]/[stream].[timestamp].flv").unwrap_or_else(|_| DvrPath {
            written: String::new(),
            parts: Vec::new(),
            format: DvrFormat::Flv,
            root: PathBuf::from("./dvr"),
        })
    }
}

impl DvrPath {
    /// Parses a template, or says what is wrong with it.
    pub fn parse(written: &str) -> Result<DvrPath, String> {
        if written.is_empty() {
            return Err("a path is needed".to_owned());
        }
        if written.contains('\0') {
            return Err("a path cannot hold a NUL byte".to_owned());
        }
        let mut template = written.to_owned();
        let format = if written.ends_with(".flv") {
            DvrFormat::Flv
        } else if written.ends_with(".mp4") {
            DvrFormat::Mp4
        } else {
            // SRS: a directory gets `[stream].[timestamp].flv` as the file name.
            template.push_str("/[stream].[timestamp].flv");
            DvrFormat::Flv
        };
        let mut parts = Vec::new();
        let mut rest = template.as_str();
        while !rest.is_empty() {
            match rest.find(['[', ']']) {
                Some(at) if rest.as_bytes()[at] == b']' => {
                    return Err(format!("a ']' without its '[' in {written:?}"));
                }
                Some(at) => {
                    if at > 0 {
                        parts.push(Part::Text(rest[..at].to_owned()));
                    }
                    let Some(end) = rest[at..].find(']') else {
                        return Err(format!("a '[' without its ']' in {written:?}"));
                    };
                    let name = &rest[at + 1..at + end];
                    if name.contains('[') {
                        return Err(format!("a '[' without its ']' in {written:?}"));
                    }
                    let Some((_, part)) = VARIABLES.iter().find(|(n, _)| *n == name) else {
                        let known: Vec<String> =
                            VARIABLES.iter().map(|(n, _)| format!("[{n}]")).collect();
                        return Err(format!(
                            "unknown variable [{name}]; the variables are {}",
                            known.join(" ")
                        ));
                    };
                    parts.push(part.clone());
                    rest = &rest[at + end + 1..];
                }
                None => {
                    parts.push(Part::Text(rest.to_owned()));
                    rest = "";
                }
            }
        }
        let fixed = template.split('[').next().unwrap_or("");
        let root = match fixed.rfind('/') {
            Some(at) => &fixed[..at],
            None => "",
        };
        let root = root.trim_end_matches('/');
        if root.is_empty() || root == "." || root == "/" || root.split('/').any(|c| c == "..") {
            return Err(format!(
                "the part of {written:?} before its first variable must name a directory of its \
                 own (the DVR root, where old recordings are deleted and leftovers repaired), \
                 e.g. ./dvr/[app]/[stream].[timestamp].flv"
            ));
        }
        Ok(DvrPath {
            written: written.to_owned(),
            parts,
            format,
            root: PathBuf::from(root),
        })
    }

    /// The path of a recording of `vhost/app/stream` started at `time`. Names from clients
    /// keep ASCII letters, digits, `-`, `_` and `.` (not in front); any other byte becomes
    /// `_`, so no name can add a directory or climb out of one (`live/sub` is `live_sub`).
    pub fn expand(&self, vhost: &str, app: &str, stream: &str, time: WallTime) -> PathBuf {
        let local_s = (time.unix_ms / 1000) as i64 + i64::from(time.utc_offset_s);
        let local_s = local_s.max(0) as u64;
        let date = civil_from_days(local_s / 86_400);
        let day_s = local_s % 86_400;
        let mut out = String::with_capacity(self.written.len() + 64);
        for part in &self.parts {
            let _ = match part {
                Part::Text(t) => out.write_str(t),
                Part::Vhost => out.write_str(&safe_name(vhost)),
                Part::App => out.write_str(&safe_name(app)),
                Part::Stream => out.write_str(&safe_name(stream)),
                Part::Timestamp => write!(out, "{}", time.unix_ms),
                Part::Year => write!(out, "{:04}", date.year),
                Part::Month => write!(out, "{:02}", date.month),
                Part::Day => write!(out, "{:02}", date.day),
                Part::Hour => write!(out, "{:02}", day_s / 3600),
                Part::Minute => write!(out, "{:02}", day_s / 60 % 60),
                Part::Second => write!(out, "{:02}", day_s % 60),
                Part::Millisecond => write!(out, "{:03}", time.unix_ms % 1000),
            };
        }
        PathBuf::from(out)
    }
}

impl DvrPath {
    /// Whether the template places recordings in time: it has `[timestamp]`, or the date
    /// and time down to the second (`[2006] [01] [02] [15] [04] [05]`).
    pub fn is_timed(&self) -> bool {
        let has = |p: &Part| self.parts.contains(p);
        has(&Part::Timestamp)
            || [
                Part::Year,
                Part::Month,
                Part::Day,
                Part::Hour,
                Part::Minute,
                Part::Second,
            ]
            .iter()
            .all(has)
    }

    /// The start (ms since the epoch) of the recording at `path` when [`expand`] could
    /// have made that path for `vhost/app/stream` (names compared as `expand` writes them);
    /// `None` for a path of another stream or another template, or when the template does
    /// not place recordings in time ([`is_timed`]). Date parts are local time at
    /// `utc_offset_s`, as `expand` wrote them.
    ///
    /// [`expand`]: DvrPath::expand
    /// [`is_timed`]: DvrPath::is_timed
    pub fn locate(
        &self,
        path: &str,
        vhost: &str,
        app: &str,
        stream: &str,
        utc_offset_s: i32,
    ) -> Option<u64> {
        let mut rest = path;
        let (mut timestamp, mut ms) = (None, 0u64);
        let mut date = [None::<u64>; 6];
        for part in &self.parts {
            let digits = |rest: &str, n: usize| -> Option<u64> {
                let d = rest.get(..n)?;
                d.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| d.parse().ok())?
            };
            let (value, len) = match part {
                Part::Text(t) => (None, rest.starts_with(t.as_str()).then_some(t.len())?),
                Part::Vhost | Part::App | Part::Stream => {
                    let name = match part {
                        Part::Vhost => safe_name(vhost),
                        Part::App => safe_name(app),
                        _ => safe_name(stream),
                    };
                    (None, rest.starts_with(name.as_str()).then_some(name.len())?)
                }
                Part::Timestamp => {
                    let n = rest.bytes().take_while(u8::is_ascii_digit).count().min(19);
                    (Some(digits(rest, n)?), n)
                }
                Part::Year => (Some(digits(rest, 4)?), 4),
                Part::Millisecond => (Some(digits(rest, 3)?), 3),
                _ => (Some(digits(rest, 2)?), 2),
            };
            if let Some(v) = value {
                match part {
                    Part::Timestamp => timestamp = Some(v),
                    Part::Millisecond => ms = v,
                    Part::Year => date[0] = Some(v),
                    Part::Month => date[1] = Some(v),
                    Part::Day => date[2] = Some(v),
                    Part::Hour => date[3] = Some(v),
                    Part::Minute => date[4] = Some(v),
                    _ => date[5] = Some(v),
                }
            }
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            return None;
        }
        if let Some(t) = timestamp {
            return Some(t);
        }
        let [Some(year), Some(month), Some(day), Some(h), Some(m), Some(s)] = date else {
            return None;
        };
        let days = crate::wire::date::days_from_civil(crate::wire::date::CivilDate {
            year,
            month: u32::try_from(month).ok()?,
            day: u32::try_from(day).ok()?,
        })?;
        let local_s = days.checked_mul(86_400)? + h * 3600 + m * 60 + s;
        let unix_s = i64::try_from(local_s).ok()? - i64::from(utc_offset_s);
        Some(u64::try_from(unix_s).ok()?.checked_mul(1000)? + ms)
    }
}

/// A client's name as a path component (see [`DvrPath::expand`]).
fn safe_name(name: &str) -> String {
    let mut out: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

impl Value<DvrPath> for DvrPath {
    fn into_value(self) -> DvrPath {
        self
    }
}

impl FromToml for DvrPath {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let written = String::from_toml(item)?;
        DvrPath::parse(&written).map_err(|message| Invalid {
            span: item.span(),
            message,
        })
    }
}

impl Show for DvrPath {
    fn show(&self) -> String {
        format!("{:?}", self.written)
    }
}

/// `dvr.http_mount`, checked: `""` (off) or an absolute path that ends in `/`, with no `.`
/// or `..` segment, not `/` alone (it would hide the web root) and not under `/api/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMount(String);

impl Value<String> for HttpMount {
    fn into_value(self) -> String {
        self.0
    }
}

impl FromToml for HttpMount {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let mount = String::from_toml(item)?;
        let valid = mount.is_empty()
            || (mount.len() > 1
                && mount.starts_with('/')
                && mount.ends_with('/')
                && !mount.starts_with("/api/")
                && mount.is_ascii()
                && !mount.contains(['\\', '?', '#', '%'])
                && mount.split('/').all(|s| s != "." && s != ".."));
        if !valid {
            return Err(Invalid {
                span: item.span(),
                message: format!(
                    "expected \"\" (off) or a path like \"/dvr/\" (starting and ending with '/',                      not \"/\" and not under /api/), found {mount:?}"
                ),
            });
        }
        Ok(HttpMount(mount))
    }
}

section! {
    /// Recording settings of a vhost (SRS: `dvr { ... }`); see `server::dvr`.
    pub struct Dvr: RawDvr, "a table of DVR settings" {
        /// `dvr.enabled` (SRS: `dvr.enabled`, default off).
        @check(compiled_in(cfg!(feature = "dvr"), "dvr"))
        enabled: bool = false => enabled: Spanned<bool>;
        /// `dvr.dvr_apply` (SRS: `dvr_apply`): "all" or a list of "app/stream".
        apply: DvrApply = DvrApply::All => dvr_apply: DvrApply;
        /// `dvr.dvr_plan` (SRS: `dvr_plan`).
        plan: DvrPlan = DvrPlan::Session => dvr_plan: Keyword<DvrPlan>;
        /// `dvr.dvr_duration`, seconds (SRS: `dvr_duration`): the segment plan starts a new
        /// file at the first keyframe after this long.
        duration_s: u32 = 30 => dvr_duration: Int<1, 86_400>;
        /// `dvr.dvr_fragment`, seconds (ours): an MP4 recording's fragments last at most this
        /// long (one per GOP when GOPs are shorter); a power cut loses at most the last one.
        fragment_s: u32 = 1 => dvr_fragment: Int<1, 60>;
        /// `dvr.dvr_path` (SRS: `dvr_path`): the file name template; see the module doc.
        path: DvrPath = DvrPath::default() => dvr_path: DvrPath;
        /// `dvr.dvr_wait_keyframe` (SRS: `dvr_wait_keyframe`): files start with a keyframe
        /// (video before the first is left out) and segments are cut at keyframes.
        wait_keyframe: bool = true => dvr_wait_keyframe: bool;
        /// `dvr.time_jitter` (SRS: `dvr.time_jitter`): each file's timestamps, from the
        /// stream's: full and zero start at 0, off keeps them.
        time_jitter: TimeJitter = TimeJitter::Full => time_jitter: Keyword<TimeJitter>;
        /// `dvr.dvr_max_bytes` (ours): loop recording, the most bytes of recordings under the
        /// DVR root; the oldest closed ones are deleted past it. 0: no quota.
        max_bytes: u64 = 0 => dvr_max_bytes: Int<0, 9_223_372_036_854_775_807>;
        /// `dvr.dvr_min_free_bytes` (ours): the oldest closed recordings are deleted while the
        /// file system has less free space. 0: not checked.
        min_free_bytes: u64 = 0 => dvr_min_free_bytes: Int<0, 9_223_372_036_854_775_807>;
        /// `dvr.dvr_sync` (ours): when recordings are flushed to the medium.
        sync: DvrSync = DvrSync::Segment => dvr_sync: DvrSync;
        /// `dvr.dvr_queue_bytes` (ours): what one recorded stream may hold for a disk that is
        /// behind; past it the recording skips to the next keyframe. RAM: this much per
        /// recorded stream.
        queue_bytes: usize = 2 * 1024 * 1024 => dvr_queue_bytes: Int<131_072, 1_073_741_824>;
        /// `dvr.http_mount` (ours): the recordings under the DVR root are served over HTTP
        /// below this path (`/dvr/live/cam.1700000000000.mp4`; `.flv` takes SRS's `?start=`);
        /// `""`: not served. See `server::http::dvr`.
        http_mount: String = "/dvr/".to_owned() => http_mount: HttpMount;
    }
    nested {}
    extra {}
    raw no_hook {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix_ms: u64) -> WallTime {
        WallTime {
            unix_ms,
            utc_offset_s: 0,
        }
    }

    /// SRS's examples (full.conf, for rtmp://ossrs.net/live/livestream at
    /// 2015-01-03 10:57:30.776, written for UTC here).
    #[test]
    fn templates_expand_as_in_srs() {
        let t = at(1_420_282_650_776);
        let cases = [
            (
                "./objs/nginx/html",
                "./objs/nginx/html/livestream.1420282650776.flv",
            ),
            (
                "/data/[vhost]/[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999].flv",
                "/data/ossrs.net/live/livestream/2015/01/03/10.57.30.776.flv",
            ),
            (
                "/data/[vhost]/[app]/[2006]/[01]/[stream]-[02]-[15].[04].[05].[999].flv",
                "/data/ossrs.net/live/2015/01/livestream-03-10.57.30.776.flv",
            ),
            (
                "./objs/nginx/html/[app]/[stream].[timestamp].flv",
                "./objs/nginx/html/live/livestream.1420282650776.flv",
            ),
        ];
        for (template, want) in cases {
            let p = DvrPath::parse(template).unwrap();
            let got = p.expand("ossrs.net", "live", "livestream", t);
            assert_eq!(got, PathBuf::from(want), "{template}");
        }
        // Local time: UTC+8 is 18:57 that day; [timestamp] stays UTC.
        let p = DvrPath::parse("/d/[15]h[04]-[timestamp].flv").unwrap();
        let t8 = WallTime {
            utc_offset_s: 8 * 3600,
            ..t
        };
        assert_eq!(
            p.expand("v", "a", "s", t8),
            PathBuf::from("/d/18h57-1420282650776.flv")
        );
    }

    /// `locate` reads back what `expand` wrote, for that stream only.
    #[test]
    fn paths_locate_their_stream_and_start() {
        let t = at(1_420_282_650_776);
        for (template, timed) in [
            ("./dvr/[app]/[stream].[timestamp].mp4", true),
            (
                "/data/[vhost]/[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999].mp4",
                true,
            ),
            ("/data/[app]-[stream]-[2006][01][02][15][04][05].flv", true),
            ("/data/[app]/[stream]/[2006]-[01]-[02].mp4", false),
        ] {
            let p = DvrPath::parse(template).unwrap();
            assert_eq!(p.is_timed(), timed, "{template}");
            for offset in [0, 8 * 3600, -5 * 3600] {
                let tz = WallTime {
                    utc_offset_s: offset,
                    ..t
                };
                let path = p.expand("ossrs.net", "live", "cam/1", tz);
                let path = path.to_str().unwrap();
                let want = if !timed {
                    None
                } else if template.contains("[999]") || template.contains("[timestamp]") {
                    Some(t.unix_ms)
                } else {
                    Some(t.unix_ms / 1000 * 1000)
                };
                assert_eq!(
                    p.locate(path, "ossrs.net", "live", "cam/1", offset),
                    want,
                    "{path}"
                );
                assert_eq!(
                    p.locate(path, "ossrs.net", "live", "cam", offset),
                    None,
                    "{path}"
                );
                assert_eq!(
                    p.locate(
                        &format!("{path}.part"),
                        "ossrs.net",
                        "live",
                        "cam/1",
                        offset
                    ),
                    None
                );
            }
        }
        let p = DvrPath::parse("./dvr/[app]/[stream].[timestamp].mp4").unwrap();
        assert_eq!(
            p.locate(
                "./dvr/live/x.99999999999999999999999.mp4",
                "v",
                "live",
                "x",
                0
            ),
            None
        );
        assert_eq!(p.locate("./dvr/live/x..mp4", "v", "live", "x", 0), None);
    }

    #[test]
    fn roots_are_the_static_directory() {
        let root = |t: &str| DvrPath::parse(t).unwrap().root;
        assert_eq!(root("./dvr/[app]/[stream].flv"), PathBuf::from("./dvr"));
        assert_eq!(
            root("/mnt/usb/rec/[app]-[stream].flv"),
            PathBuf::from("/mnt/usb/rec")
        );
        assert_eq!(root("/mnt/usb/rec/cam.flv"), PathBuf::from("/mnt/usb/rec"));
        assert_eq!(root("/mnt/usb/rec"), PathBuf::from("/mnt/usb/rec"));
        assert_eq!(root("rec/x[stream].flv"), PathBuf::from("rec"));
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        let refused = |t: &str| DvrPath::parse(t).unwrap_err();
        assert_eq!(
            DvrPath::parse("./dvr/[app]/[stream].mp4").unwrap().format,
            DvrFormat::Mp4
        );
        assert_eq!(
            DvrPath::parse("./dvr/[app]/[stream].mp4.flv")
                .unwrap()
                .format,
            DvrFormat::Flv
        );
        assert!(refused("./dvr/[ap]/[stream].flv").contains("unknown variable [ap]"));
        assert!(refused("./dvr/[app/[stream].flv").contains("'[' without"));
        assert!(refused("./dvr/[app]/x].flv").contains("']' without"));
        assert!(refused("./dvr/[app").contains("'[' without"));
        for no_root in [
            "[app]/[stream].flv",
            "/[app].flv",
            "./[app].flv",
            "x.flv",
            "../[app].flv",
        ] {
            assert!(refused(no_root).contains("DVR root"), "{no_root}");
        }
        assert!(refused("").contains("needed"));
    }

    /// Names from clients cannot add directories or climb out of the root.
    #[test]
    fn client_names_are_made_safe() {
        let p = DvrPath::parse("/d/[vhost]/[app]/[stream].flv").unwrap();
        let got = p.expand("..", "live/../..", "../../etc/passwd\0", at(0));
        assert_eq!(
            got,
            PathBuf::from("/d/_../live_.._../_.._.._etc_passwd_.flv")
        );
        assert!(got.components().all(|c| c.as_os_str() != ".."));
        assert_eq!(
            p.expand("v", "", "摄像头", at(0)),
            PathBuf::from("/d/v/_/_________.flv")
        );
    }

    #[test]
    fn http_mounts() {
        let mount = |m: &str| {
            let toml = format!("[vhost.__defaultVhost__.dvr]\nhttp_mount = {m:?}\n");
            crate::config::Config::from_toml_str(&toml, "t")
                .map(|c| c.default_vhost().dvr.http_mount.clone())
        };
        for good in ["/dvr/", "/a/b/", ""] {
            assert_eq!(mount(good).unwrap(), good);
        }
        for bad in [
            "/",
            "dvr/",
            "/dvr",
            "/api/dvr/",
            "/a/../",
            "/a/./",
            "/%64/",
            "/a?/",
        ] {
            let e = mount(bad).unwrap_err().to_string();
            assert!(e.contains("http_mount"), "{bad}: {e}");
        }
    }

    #[test]
    fn apply_matches_app_and_stream() {
        let a = DvrApply::Streams(vec!["live/cam1".into(), "sub/app/cam2".into()]);
        assert!(a.applies("live", "cam1"));
        assert!(a.applies("sub/app", "cam2"));
        assert!(!a.applies("live", "cam2"));
        assert!(!a.applies("liv", "e/cam1"));
        assert!(DvrApply::All.applies("x", "y"));
    }
}
