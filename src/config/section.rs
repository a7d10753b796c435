//! One definition per config key: the [`section!`] table a section is written in, and what it
//! generates.
//!
//! A key is one row of its section's table:
//!
//! ```text
//! /// `play.gop_cache_max_bytes` (SRS: ...): meaning. RAM: ...
//! @restart @check(f) @show(f)      (each optional)
//! gop_cache_max_bytes: usize = 8 * 1024 * 1024 => gop_cache_max_bytes: Bytes;
//! ```
//!
//! that is: the typed field with its doc, type and embedded default, then `=>` the key as the
//! file writes it and its raw type (a `schema` type whose `FromToml` checks the value, so
//! errors keep the value's own span). From the table, `section!` makes the typed struct and its
//! defaults, the raw struct (every key an `Option`) and the code that reads it from the parsed
//! document (unknown keys refused), the copy of what the file sets over the defaults, the
//! reload-diff entries and the list of file keys.
//! Flags: `@restart` (a change is logged as needing a restart), `@check(f)` (`f(raw, key,
//! at)` makes the typed value or refuses it, for `enabled` keys of compiled-out protocols) and
//! `@show(f)` (`f(&value)` writes the value in the diff instead of [`Show`]).
//!
//! A section may also hold sub-tables flattened into the same struct (`table play: RawPlay`),
//! nested sections with a struct of their own (`nested { hls: Hls => hls; }`), fields that no
//! single key sets (`extra`, with `@show` and `@restart` as rows have them) and raw keys that
//! a hand-written hook applies (`raw hook { .. }`) when the rule spans several keys
//! (`gb28181.rtp_port_min` ≤ `rtp_port_max`).
//!
//! Adding a key: one row here, one documented line in `rootfs/common/etc/tinysrs/tinysrs.toml`
//! (a unit test checks that every key of the definition is in that file).

use std::net::SocketAddr;

use toml::Spanned;

use super::error::{push_key, ConfigError};

/// Makes a typed error at a byte span: `(span, dotted key, message)`.
pub(super) type ErrorAt<'a> = dyn Fn(std::ops::Range<usize>, String, String) -> ConfigError + 'a;

/// One key's value as the reload diff writes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    /// Dotted key relative to the section the diff started from (`play.gop_cache`).
    pub key: String,
    pub value: String,
    /// Read once at start: a reload logs the change but cannot apply it.
    pub restart: bool,
}

/// What [`section!`] generates for a typed config struct.
pub(super) trait Section: Sized {
    /// The section's table as written: each key an `Option` of its checked raw type.
    type Raw: super::schema::FromToml;

    /// The embedded defaults.
    fn defaults() -> Self;

    /// Overrides the defaults with what the file sets; `path` is the table's dotted key.
    fn apply(&mut self, raw: Self::Raw, path: &str, at: &ErrorAt<'_>) -> Result<(), ConfigError>;

    /// Every key's current value, keys prefixed by `prefix`, in table order.
    fn entries(&self, prefix: &str, out: &mut Vec<Entry>);

    /// Every key the file may set, prefixed by `prefix` (a table-valued key once, by name).
    /// For the shipped-example tests, which need the `small` protocols compiled in.
    #[cfg(test)]
    #[allow(dead_code)]
    fn file_keys(prefix: &str, out: &mut Vec<String>);
}

/// `path.key`, quoting `key` as TOML would when it is not bare; `key` when `path` is empty.
pub(super) fn join(path: &str, key: &str) -> String {
    let mut joined = path.to_owned();
    push_key(&mut joined, key);
    joined
}

/// Adds the entry of `prefix.key`. Not inlined: one call per key in `section!`'s `entries`.
#[inline(never)]
pub(super) fn entry(out: &mut Vec<Entry>, prefix: &str, key: &str, value: String, restart: bool) {
    out.push(Entry {
        key: join(prefix, key),
        value,
        restart,
    });
}

/// How a typed value is written in the reload diff (the config file's words and units).
pub(super) trait Show {
    fn show(&self) -> String;
}

macro_rules! show_display {
    ($($t:ty),*) => {
        $(impl Show for $t {
            fn show(&self) -> String {
                self.to_string()
            }
        })*
    };
}

show_display!(bool, u16, u32, u64, usize, SocketAddr);

impl Show for String {
    fn show(&self) -> String {
        format!("{self:?}")
    }
}

impl Show for Option<String> {
    fn show(&self) -> String {
        format!("{:?}", self.as_deref().unwrap_or(""))
    }
}

/// A listener that may be off.
impl Show for Option<SocketAddr> {
    fn show(&self) -> String {
        self.map_or_else(|| "off".to_owned(), |a| a.to_string())
    }
}

impl Show for crate::sorted_map::SortedMap<String, String> {
    fn show(&self) -> String {
        format!("{} devices", self.len())
    }
}

impl<T: super::schema::Keywords> Show for T {
    fn show(&self) -> String {
        self.word().to_owned()
    }
}

/// A string written as is, without quotes (ids and names without spaces).
pub(super) fn plain(s: &str) -> String {
    s.to_owned()
}

/// The `Debug` spelling (`TcpPassive`), as the reload log has always written these enums.
pub(super) fn debug<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

/// `@check` for `enabled` keys: `enabled = true` for a protocol this build does not have is
/// refused, naming the Cargo feature.
pub(super) fn compiled_in(
    compiled: bool,
    feature: &'static str,
) -> impl Fn(Spanned<bool>, &str, &ErrorAt<'_>) -> Result<bool, ConfigError> {
    move |value, key, at| {
        let enabled = *value.get_ref();
        if enabled && !compiled {
            return Err(at(value.span(), key.to_owned(), not_built(feature)));
        }
        Ok(enabled)
    }
}

/// Why a key that switches on a compiled-out feature is refused.
fn not_built(feature: &str) -> String {
    format!(
        "this build does not have it (Cargo feature {feature}); see boards/ or build with \
         --features full"
    )
}

/// The table of a section whose Cargo feature this build does not have (`section!` with
/// `@feature(FEATURE, SWITCH, ...)`): read as a whole, not key by key, so that none of the
/// section's per-key readers and checks is in the build (the `exec` section's cost the router
/// binary 11 KB). A key that would switch the feature on (`enabled = true`, a non-empty
/// `origin`, `origin_cluster = true`) is refused, naming the feature; the rest of the table is not looked at: what it
/// sets would do nothing in this build.
pub(super) struct CompiledOut {
    /// The keys set to something other than `false`, `""` or `[]`, with their values' spans.
    set: Vec<(String, std::ops::Range<usize>)>,
}

impl super::schema::FromToml for CompiledOut {
    fn from_toml(item: &super::schema::Item<'_>) -> Result<Self, super::schema::Invalid> {
        use toml::de::DeValue;
        let mut set = Vec::new();
        super::schema::read_table(item, "a table", &[], &mut |key, value| {
            let on = match value.get_ref() {
                DeValue::Boolean(b) => *b,
                DeValue::String(s) => !s.is_empty(),
                DeValue::Array(a) => !a.is_empty(),
                _ => true,
            };
            if on {
                set.push((key.to_owned(), value.span()));
            }
            Ok(true)
        })?;
        Ok(CompiledOut { set })
    }
}

impl CompiledOut {
    /// Refuses the table when it sets one of `switches` (the first the file sets), naming
    /// `feature`; `path` is the table's key. (Unused in a build that has every gated
    /// section's feature.)
    #[allow(dead_code)]
    pub(super) fn refuse(
        self,
        switches: &[&str],
        feature: &str,
        path: &str,
        at: &ErrorAt<'_>,
    ) -> Result<(), ConfigError> {
        let found = self
            .set
            .into_iter()
            .find(|(key, _)| switches.contains(&key.as_str()));
        match found {
            Some((key, span)) => Err(at(span, join(path, &key), not_built(feature))),
            None => Ok(()),
        }
    }

    /// Where the table sets `key` (to something other than false or empty), if it does
    /// (`[[ingest]]` without RTSP and child processes).
    #[allow(dead_code)]
    pub(super) fn span_of(&self, key: &str) -> Option<std::ops::Range<usize>> {
        self.set
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, span)| span.clone())
    }
}

/// Applies one row when the file sets its key (`$raw` is `Some`): `@check(f)` if given, else
/// [`put`]. `$key` (the dotted key, for `@check`'s errors) is made only then.
macro_rules! row_apply {
    ($slot:expr, $raw:expr, $key:expr, $at:expr; check($c:expr) $($rest:tt)*) => {
        if let Some(v) = $raw {
            $slot = ($c)(v, $key, $at)?
        }
    };
    ($slot:expr, $raw:expr, $key:expr, $at:expr; $flag:ident $args:tt $($rest:tt)*) => {
        row_apply!($slot, $raw, $key, $at; $($rest)*)
    };
    ($slot:expr, $raw:expr, $key:expr, $at:expr;) => {
        $crate::config::section::put(&mut $slot, $raw)
    };
}

/// Sets a typed field from its raw value when the file sets it. Not inlined: `section!`'s
/// `apply` makes each plain row one call of this, which exists once per (raw, typed) pair of
/// types rather than once per key.
#[inline(never)]
pub(super) fn put<T, R: super::schema::Value<T>>(slot: &mut T, raw: Option<R>) {
    if let Some(v) = raw {
        *slot = v.into_value();
    }
}

/// Writes one row's value: `@show(f)` if given, else [`Show`].
macro_rules! row_show {
    ($v:expr; show($s:expr) $($rest:tt)*) => {
        ($s)($v)
    };
    ($v:expr; $flag:ident $args:tt $($rest:tt)*) => {
        row_show!($v; $($rest)*)
    };
    ($v:expr;) => {
        $crate::config::section::Show::show($v)
    };
}

/// Whether a row has `@restart`.
macro_rules! row_restart {
    (restart() $($rest:tt)*) => {
        true
    };
    ($flag:ident $args:tt $($rest:tt)*) => {
        row_restart!($($rest)*)
    };
    () => {
        false
    };
}

/// Defines a config section from one table; see the module doc.
macro_rules! section {
    (
        $(#[$meta:meta])*
        $(@feature($feat:literal, $($switch:ident),+))?
        pub struct $Name:ident : $Raw:ident, $expect:literal {
            $(
                $(#[$fmeta:meta])*
                $(@$flag:ident $(($farg:expr))?)*
                $field:ident : $ty:ty = $default:expr => $key:ident : $raw:ty;
            )*
        }
        $(
            table $sub:ident : $SubRaw:ident, $subexpect:literal {
                $(
                    $(#[$smeta:meta])*
                    $(@$sflag:ident $(($sarg:expr))?)*
                    $sfield:ident : $sty:ty = $sdefault:expr => $skey:ident : $sraw:ty;
                )*
            }
        )*
        nested {
            $(
                $(#[$nmeta:meta])*
                $nfield:ident : $nty:ty => $nkey:ident;
            )*
        }
        extra {
            $(
                $(#[$xmeta:meta])*
                $xvis:vis $xfield:ident : $xty:ty = $xdefault:expr
                    $(=> $xkey:literal $(@$xflag:ident $(($xarg:expr))?)*)?;
            )*
        }
        raw $hook:path {
            $(
                $(#[$rmeta:meta])*
                $rkey:ident : $rty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $Name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
            $($(
                $(#[$smeta])*
                pub $sfield: $sty,
            )*)*
            $(
                $(#[$nmeta])*
                pub $nfield: $nty,
            )*
            $(
                $(#[$xmeta])*
                $xvis $xfield: $xty,
            )*
        }

        $(#[cfg(feature = $feat)])?
        pub(in crate::config) struct $Raw {
            $(pub(in crate::config) $key: Option<$raw>,)*
            $(pub(in crate::config) $sub: Option<$SubRaw>,)*
            $(pub(in crate::config) $nkey:
                Option<<$nty as $crate::config::section::Section>::Raw>,)*
            $(
                $(#[$rmeta])*
                pub(in crate::config) $rkey: Option<$rty>,
            )*
        }

        $(#[cfg(feature = $feat)])?
        impl $crate::config::schema::FromToml for $Raw {
            fn from_toml(
                item: &$crate::config::schema::Item<'_>,
            ) -> Result<Self, $crate::config::schema::Invalid> {
                let mut raw = $Raw {
                    $($key: None,)*
                    $($sub: None,)*
                    $($nkey: None,)*
                    $($rkey: None,)*
                };
                $crate::config::schema::read_table(
                    item,
                    $expect,
                    &[
                        $(stringify!($key),)*
                        $(stringify!($sub),)*
                        $(stringify!($nkey),)*
                        $(stringify!($rkey),)*
                    ],
                    &mut |key, value| {
                        use $crate::config::schema::read_into;
                        match key {
                            $(stringify!($key) => read_into(&mut raw.$key, value),)*
                            $(stringify!($sub) => read_into(&mut raw.$sub, value),)*
                            $(stringify!($nkey) => read_into(&mut raw.$nkey, value),)*
                            $(stringify!($rkey) => read_into(&mut raw.$rkey, value),)*
                            _ => return Ok(false),
                        }
                        .map(|()| true)
                    },
                )?;
                Ok(raw)
            }
        }

        $(
            pub(in crate::config) struct $SubRaw {
                $(pub(in crate::config) $skey: Option<$sraw>,)*
            }

            impl $crate::config::schema::FromToml for $SubRaw {
                fn from_toml(
                    item: &$crate::config::schema::Item<'_>,
                ) -> Result<Self, $crate::config::schema::Invalid> {
                    let mut raw = $SubRaw { $($skey: None,)* };
                    $crate::config::schema::read_table(
                        item,
                        $subexpect,
                        &[$(stringify!($skey),)*],
                        &mut |key, value| {
                            match key {
                                $(stringify!($skey) => {
                                    $crate::config::schema::read_into(&mut raw.$skey, value)
                                })*
                                _ => return Ok(false),
                            }
                            .map(|()| true)
                        },
                    )?;
                    Ok(raw)
                }
            }
        )*

        impl $Name {
            /// The embedded defaults, every row's (`Section::defaults`).
            fn row_defaults() -> Self {
                $Name {
                    $($field: $default,)*
                    $($($sfield: $sdefault,)*)*
                    $($nfield: <$nty as $crate::config::section::Section>::defaults(),)*
                    $($xfield: $xdefault,)*
                }
            }

            /// Every key the file may set (`Section::file_keys`).
            #[cfg(test)]
            #[allow(unused_variables, dead_code)]
            fn row_file_keys(prefix: &str, out: &mut Vec<String>) {
                use $crate::config::section::join;
                $(out.push(join(prefix, stringify!($key)));)*
                $(
                    let sub = join(prefix, stringify!($sub));
                    $(out.push(join(&sub, stringify!($skey)));)*
                )*
                $(
                    <$nty as $crate::config::section::Section>::file_keys(
                        &join(prefix, stringify!($nkey)),
                        out,
                    );
                )*
                $(out.push(join(prefix, stringify!($rkey)));)*
            }
        }

        // Without the section's feature: one reader for the whole table (see `CompiledOut`).
        $(
            #[cfg(not(feature = $feat))]
            impl $crate::config::section::Section for $Name {
                type Raw = $crate::config::section::CompiledOut;

                fn defaults() -> Self {
                    Self::row_defaults()
                }

                fn apply(
                    &mut self,
                    raw: $crate::config::section::CompiledOut,
                    path: &str,
                    at: &$crate::config::section::ErrorAt<'_>,
                ) -> Result<(), $crate::config::ConfigError> {
                    raw.refuse(&[$(stringify!($switch)),+], $feat, path, at)
                }

                fn entries(&self, _: &str, _: &mut Vec<$crate::config::section::Entry>) {}

                #[cfg(test)]
                fn file_keys(prefix: &str, out: &mut Vec<String>) {
                    Self::row_file_keys(prefix, out)
                }
            }
        )?

        $(#[cfg(feature = $feat)])?
        impl $crate::config::section::Section for $Name {
            type Raw = $Raw;

            fn defaults() -> Self {
                Self::row_defaults()
            }

            #[allow(unused_variables)]
            fn apply(
                &mut self,
                raw: $Raw,
                path: &str,
                at: &$crate::config::section::ErrorAt<'_>,
            ) -> Result<(), $crate::config::ConfigError> {
                #[allow(unused_imports)]
                use $crate::config::section::join;
                $(
                    row_apply!(self.$field, raw.$key, &join(path, stringify!($key)), at;
                        $($flag($($farg)?))*);
                )*
                $(
                    if let Some(table) = raw.$sub {
                        let path = join(path, stringify!($sub));
                        $(
                            row_apply!(self.$sfield, table.$skey,
                                &join(&path, stringify!($skey)), at; $($sflag($($sarg)?))*);
                        )*
                    }
                )*
                $(
                    if let Some(v) = raw.$nkey {
                        $crate::config::section::Section::apply(
                            &mut self.$nfield,
                            v,
                            &join(path, stringify!($nkey)),
                            at,
                        )?;
                    }
                )*
                $hook(self, ($(raw.$rkey,)*), path, at)
            }

            #[allow(unused_variables)]
            fn entries(&self, prefix: &str, out: &mut Vec<$crate::config::section::Entry>) {
                #[allow(unused_imports)]
                use $crate::config::section::{entry, join};
                $(
                    entry(out, prefix, stringify!($key),
                        row_show!(&self.$field; $($flag($($farg)?))*),
                        row_restart!($($flag($($farg)?))*));
                )*
                $(
                    let sub = join(prefix, stringify!($sub));
                    $(
                        entry(out, &sub, stringify!($skey),
                            row_show!(&self.$sfield; $($sflag($($sarg)?))*),
                            row_restart!($($sflag($($sarg)?))*));
                    )*
                )*
                $(
                    self.$nfield.entries(&join(prefix, stringify!($nkey)), out);
                )*
                $($(
                    entry(out, prefix, $xkey,
                        row_show!(&self.$xfield; $($xflag($($xarg)?))*),
                        row_restart!($($xflag($($xarg)?))*));
                )?)*
            }

            #[cfg(test)]
            fn file_keys(prefix: &str, out: &mut Vec<String>) {
                Self::row_file_keys(prefix, out)
            }
        }
    };
}

/// Defines an enum whose values are written as fixed words in the config file: the words are
/// the parser's list, its "expected one of ..." message and the diff's spelling.
macro_rules! keywords {
    (
        $(#[$meta:meta])*
        pub enum $Name:ident {
            $(
                $(#[$vmeta:meta])*
                $Variant:ident = $word:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $Name {
            $(
                $(#[$vmeta])*
                $Variant,
            )*
        }

        impl $Name {
            /// The word used in the config file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($Name::$Variant => $word,)*
                }
            }
        }

        impl $crate::config::schema::Keywords for $Name {
            const ALL: &'static [Self] = &[$($Name::$Variant,)*];

            fn word(&self) -> &'static str {
                self.as_str()
            }
        }
    };
}

/// A hook for sections whose raw keys all have rows.
pub(super) fn no_hook<T>(_: &mut T, _: (), _: &str, _: &ErrorAt<'_>) -> Result<(), ConfigError> {
    Ok(())
}
