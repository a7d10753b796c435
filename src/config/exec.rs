//! Child processes, SRS's ffmpeg-driven features (`server::exec`, `net::exec`; Cargo feature
//! `exec`):
//!
//! ```toml
//! [[ingest]]                          # any program that publishes to us (SRS: ingest)
//! command = "ffmpeg -re -stream_loop -1 -i /srv/loop.flv -c copy -f flv rtmp://127.0.0.1:[port]/live/loop"
//! stream = "live/loop"                # optional: fills [app] [stream] (and the API's view)
//!
//! [vhost.__defaultVhost__.exec]       # SRS: exec { enabled on; publish ...; }
//! enabled = true
//! publish = ["/usr/local/bin/on-publish", "[app]", "[stream]"]
//!
//! [vhost.__defaultVhost__.transcode]  # SRS: transcode [app] { engine NAME { ... } }
//! enabled = true
//! engine = "sd"                       # publishes [stream]_sd by default (output)
//! vwidth = 640
//! vheight = 360
//! ```
//!
//! A command is a string split on whitespace (SRS's form) or a list of its words (for words
//! with spaces); it runs without a shell unless `shell = true`, which runs the words joined by
//! spaces as `sh -c` (pipes, redirections). SRS's variables `[vhost] [port] [app] [stream]
//! [engine] [param] [url]` are substituted in every word (`server::exec::Vars`).

// Without the feature the section is read as a whole (`section::CompiledOut`): its rows' readers
// and checks are not used.
#![cfg_attr(not(feature = "exec"), allow(unused_imports, dead_code))]

use toml::Spanned;

use super::schema::{words_or_list, FromToml, Int, Invalid, Item, Value};
use super::section::{compiled_in, no_hook, plain, ErrorAt, Show};
use super::ConfigError;

/// Most words in one command. Why: kept in the config and copied per child.
pub const MAX_WORDS: usize = 128;
/// Longest command (all words). Why: the same; Linux takes far more, no command needs it.
pub const MAX_COMMAND_LEN: usize = 4096;

/// A program and its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command(pub Vec<String>);

impl Value<Command> for Command {
    fn into_value(self) -> Command {
        self
    }
}

impl FromToml for Command {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let words = words_or_list(
            item,
            "a command line or a list of its words",
            MAX_WORDS,
            "words",
        )?;
        let refuse = |message: &str| Invalid {
            span: item.span(),
            message: message.to_owned(),
        };
        if words.iter().map(String::len).sum::<usize>() > MAX_COMMAND_LEN {
            return Err(refuse("a command longer than 4096 bytes"));
        }
        if words.iter().any(|w| w.contains('\0')) {
            return Err(refuse("a command with a NUL byte"));
        }
        Ok(Command(words))
    }
}

impl Show for Command {
    fn show(&self) -> String {
        format!("{:?}", self.0.join(" "))
    }
}

fn check_name(value: Spanned<String>, key: &str, at: &ErrorAt<'_>) -> Result<String, ConfigError> {
    let span = value.span();
    let name = value.into_inner();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    match ok {
        true => Ok(name),
        false => Err(at(
            span,
            key.to_owned(),
            format!("expected a name of letters, digits, '-', '_', found {name:?}"),
        )),
    }
}

section! {
    /// `exec` of a vhost (SRS: `exec { enabled; publish; }`): a command run while each stream
    /// is published.
    @feature("exec", enabled)
    pub struct Exec: RawExec, "a table of exec settings (enabled, publish, shell)" {
        /// `exec.enabled` (SRS: `exec.enabled`, default off).
        @check(compiled_in(cfg!(feature = "exec"), "exec"))
        enabled: bool = false => enabled: Spanned<bool>;
        /// `exec.publish` (SRS: `exec.publish`): run when a stream is published, killed
        /// (SIGTERM, SIGKILL 3 s later) when it is unpublished, restarted with backoff if it
        /// exits meanwhile. SRS's variables are substituted.
        publish: Command = Command::default() => publish: Command;
        /// `exec.shell` (ours): run `publish` as `sh -c` (its words joined by spaces).
        shell: bool = false => shell: bool;
    }
    nested {}
    extra {}
    raw no_hook {}
}

section! {
    /// `transcode` of a vhost (SRS: `transcode [app] { enabled; ffmpeg; engine NAME {...} }`,
    /// one engine): ffmpeg reads each published stream and publishes the result back.
    @feature("exec", enabled)
    pub struct Transcode: RawTranscode, "a table of transcode settings" {
        /// `transcode.enabled` (SRS: `transcode.enabled`, default off).
        @check(compiled_in(cfg!(feature = "exec"), "exec"))
        enabled: bool = false => enabled: Spanned<bool>;
        /// `transcode.ffmpeg` (SRS: `transcode.ffmpeg`): the ffmpeg program.
        ffmpeg: String = "ffmpeg".to_owned() => ffmpeg: String;
        /// `transcode.app` (SRS: the `[app]` of `transcode [app]`): only streams of this app;
        /// empty for all.
        app: String = String::new() => app: String;
        /// `transcode.engine` (SRS: the engine's name): `[engine]` in `output`. A stream whose
        /// name ends with `_[engine]` is not transcoded (it is an output).
        @check(check_name) @show(plain)
        engine: String = "sd".to_owned() => engine: Spanned<String>;
        /// `transcode.vcodec` (SRS: `vcodec`): an ffmpeg video encoder, `copy` or `vn`.
        vcodec: String = "libx264".to_owned() => vcodec: String;
        /// `transcode.vbitrate`, kbps (SRS: `vbitrate`); 0 leaves it to the encoder.
        vbitrate_kbps: u32 = 500 => vbitrate: Int<0, 100_000>;
        /// `transcode.vfps` (SRS: `vfps`); 0 keeps the input's.
        vfps: u32 = 0 => vfps: Int<0, 240>;
        /// `transcode.vwidth` (SRS: `vwidth`); 0 (with vheight) keeps the input's size.
        vwidth: u32 = 0 => vwidth: Int<0, 8192>;
        /// `transcode.vheight` (SRS: `vheight`).
        vheight: u32 = 0 => vheight: Int<0, 8192>;
        /// `transcode.vthreads` (SRS: `vthreads`); 0 leaves it to the encoder.
        vthreads: u32 = 0 => vthreads: Int<0, 64>;
        /// `transcode.vprofile` (SRS: `vprofile`), e.g. "main"; empty leaves it out.
        vprofile: String = String::new() => vprofile: String;
        /// `transcode.vpreset` (SRS: `vpreset`), e.g. "ultrafast"; empty leaves it out.
        vpreset: String = "veryfast".to_owned() => vpreset: String;
        /// `transcode.acodec` (SRS: `acodec`): an ffmpeg audio encoder, `copy` or `an`.
        acodec: String = "copy".to_owned() => acodec: String;
        /// `transcode.abitrate`, kbps (SRS: `abitrate`); 0 leaves it to the encoder.
        abitrate_kbps: u32 = 0 => abitrate: Int<0, 10_000>;
        /// `transcode.asample_rate` (SRS: `asample_rate`); 0 keeps the input's.
        asample_rate: u32 = 0 => asample_rate: Int<0, 192_000>;
        /// `transcode.achannels` (SRS: `achannels`); 0 keeps the input's.
        achannels: u32 = 0 => achannels: Int<0, 8>;
        /// `transcode.output` (SRS: `output`): where ffmpeg publishes, SRS's variables
        /// substituted.
        output: String = "rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine]".to_owned()
            => output: String;
    }
    nested {}
    extra {}
    raw no_hook {}
}

/// An `[[ingest]]` with `command`: a program run from start to stop (SRS: `ingest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildIngest {
    pub command: Command,
    pub shell: bool,
    /// `app/stream` it publishes (for `[app]`, `[stream]`), or empty.
    pub stream: String,
    pub vhost: String,
}

impl ChildIngest {
    pub fn app(&self) -> &str {
        self.stream.split_once('/').map_or("", |(a, _)| a)
    }

    pub fn stream_name(&self) -> &str {
        self.stream.split_once('/').map_or("", |(_, s)| s)
    }
}

/// The child ingests in the reload log.
pub(super) fn show_child_ingests(ingests: &[ChildIngest]) -> String {
    // Always empty without child processes (`ingest::apply`).
    if !cfg!(feature = "exec") {
        return "[]".to_owned();
    }
    let shown: Vec<String> = ingests
        .iter()
        .map(|i| {
            let shell = if i.shell { "sh -c " } else { "" };
            format!("{}/{} <- {shell}{}", i.vhost, i.stream, i.command.show())
        })
        .collect();
    format!("[{}]", shown.join(", "))
}
