//! The static web root: turns a request into a [`Plan`] (status, headers to send, which byte
//! range of which file), with no way out of the root.
//!
//! This module reads file metadata (`std::fs::canonicalize`, `std::fs::metadata`) but opens
//! nothing, does no network I/O and never reads the clock; the caller runs it on the disk
//! thread (`net::disk::Disk::plan`, never on the event loop), opens the planned path and
//! sends the bytes. The same rules serve the DVR recordings ([`WebRoot::recordings`]).
//!
//! # Containment (the point of this module)
//! A target is refused with 403 when it could name anything outside the root:
//! 1. before decoding: a backslash, a NUL, or a `.` / `..` segment (`/../x`, `/a/./b`);
//! 2. after percent-decoding (which must succeed, else 400): the same checks again, so
//!    `%2e%2e`, `%2E%2e/` and `..%2f` are caught; `%2F` counts as a separator;
//! 3. on the file system: the joined path is canonicalized (symlinks resolved) and must lie
//!    under the root canonicalized once in [`WebRoot::new`] (component-wise, so `/srv/www2`
//!    is not under `/srv/www`). A symlink pointing outside the root is 403; one pointing
//!    elsewhere inside it is followed.
//!
//! The path is rebuilt from checked segments only (never `Path::join` of peer text that
//! could be absolute), and empty segments are skipped: `//etc/passwd` is `<root>/etc/passwd`.
//!
//! # What a caller must know
//! * Hidden files are 404: any segment of the request, or of the resolved path below the
//!   root, that starts with `.` (`.git/`, `.env`, `.well-known/` too), so their existence is
//!   not revealed.
//! * A DVR root ([`WebRoot::recordings`]) serves no index (a directory is 404) and no file
//!   whose canonical name ends in [`PART_SUFFIX`]: a recording still being written.
//! * Only regular files are served: directories serve their [`INDEX_FILE`] (no listings, no
//!   redirect to a trailing `/`), and FIFOs, sockets and devices are 404, so a `read` can never
//!   block the single thread. One exception: the root itself without an [`INDEX_FILE`] but with
//!   the web console (`console/index.html`) answers 302 to [`CONSOLE_PATH`], so `http://box:8080/`
//!   opens the console; a root with its own `index.html` keeps it.
//! * `Plan::File::path` is canonical (no symlinks at planning time). Open it with
//!   `O_NOFOLLOW`, check with `fstat` that it is still a regular file, and send at most `len`
//!   bytes from `start`: a file being written (HLS, DVR) may change size in between; if it
//!   shrank, close the connection rather than pad.
//! * Only GET and HEAD; anything else is 405 (send `Allow:` [`ALLOW`]). Range is honoured for
//!   GET only (RFC 9110 §14.2: range handling is defined for GET alone), HEAD describes the
//!   whole file.
//! * `last_modified` is an IMF-fixdate from the file's mtime (pure arithmetic, see
//!   [`http::http_date`]); `None` when the file system has no mtime or it is before 1970.
//!   [`WebRoot::plan_request`] also answers `If-Modified-Since` (304 on an exact match, as
//!   nginx's default `if_modified_since exact`) and `If-Range` (the range is honoured only on
//!   an exact match with `last_modified`; an entity-tag never matches since we send none).
//! * 416 comes back as `Plan::Error` without the total length, so the response carries no
//!   `Content-Range: bytes */<total>` (a SHOULD in RFC 9110 §15.5.17).
//! * `Plan::Error::message` is a short fixed text that is safe to send as the body; log the
//!   status and the target for detail.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::wire::http::{self, Method, RequestHead};

/// The file a directory serves.
pub const INDEX_FILE: &str = "index.html";

/// Where `/` redirects when the root has no [`INDEX_FILE`] but has the web console (the
/// packaged `www/console/`).
pub const CONSOLE_PATH: &str = "/console/";

/// The `Allow` field value to send with a 405.
pub const ALLOW: &str = "GET, HEAD";

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Send `len` bytes of `path` from `start`. Status 200 (whole file, `start == 0`,
    /// `len == total`) or 206 (send `Content-Range:` [`Plan::content_range`]).
    File {
        path: PathBuf,
        status: u16,
        content_type: &'static str,
        start: u64,
        len: u64,
        total: u64,
        /// IMF-fixdate of the file's mtime, for `Last-Modified`.
        last_modified: Option<String>,
    },
    /// 304: the client's copy is current (only from [`WebRoot::plan_request`]).
    NotModified { last_modified: String },
    /// 302 to `location`: `/` of a root without an index but with the console.
    Redirect { location: &'static str },
    /// 400, 403, 404, 405 or 416, with a body-safe message.
    Error { status: u16, message: &'static str },
}

impl Plan {
    /// The `Content-Range` value of a 206 (`bytes 0-99/1000`, RFC 9110 §14.4); `None`
    /// otherwise.
    pub fn content_range(&self) -> Option<String> {
        match self {
            Plan::File {
                status: 206,
                start,
                len,
                total,
                ..
            } => Some(format!(
                "bytes {start}-{}/{total}",
                start + len.saturating_sub(1)
            )),
            _ => None,
        }
    }

    /// The response status.
    pub fn status(&self) -> u16 {
        match self {
            Plan::File { status, .. } | Plan::Error { status, .. } => *status,
            Plan::NotModified { .. } => 304,
            Plan::Redirect { .. } => 302,
        }
    }
}

const BAD_ENCODING: Plan = Plan::Error {
    status: 400,
    message: "invalid path encoding",
};
const FORBIDDEN: Plan = Plan::Error {
    status: 403,
    message: "forbidden",
};
const NOT_FOUND: Plan = Plan::Error {
    status: 404,
    message: "not found",
};
const NOT_ALLOWED: Plan = Plan::Error {
    status: 405,
    message: "method not allowed",
};
const UNSATISFIABLE: Plan = Plan::Error {
    status: 416,
    message: "range not satisfiable",
};

/// A Range header that selects no byte of the file (RFC 9110 §14.1.1): answer 416.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("range not satisfiable")]
    Unsatisfiable,
}

/// A web root, canonicalized once.
#[derive(Debug, Clone)]
pub struct WebRoot {
    root: PathBuf,
    /// A DVR root ([`WebRoot::recordings`]): no index files, and no `.part` files (being
    /// written).
    recordings: bool,
}

/// The suffix of a recording being written (`server::dvr`): never served.
pub const PART_SUFFIX: &str = ".part";

impl WebRoot {
    /// Canonicalizes `root`, which must be a directory (check this at config load).
    pub fn new(root: &Path) -> io::Result<WebRoot> {
        let root = fs::canonicalize(root)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "web root is not a directory",
            ));
        }
        Ok(WebRoot {
            root,
            recordings: false,
        })
    }

    /// A DVR root: the same containment, but a directory is 404 (no [`INDEX_FILE`]) and so
    /// is a file whose canonical name ends in [`PART_SUFFIX`] (a recording being written).
    pub fn recordings(root: &Path) -> io::Result<WebRoot> {
        Ok(WebRoot {
            recordings: true,
            ..WebRoot::new(root)?
        })
    }

    /// The canonical root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Plans the answer to `method target` with an optional Range header. See [`plan`].
    pub fn plan(&self, method: Method, target: &str, range: Option<&str>) -> Plan {
        self.plan_with(method, target, range, None, None)
    }

    /// Plans the answer to a whole request head: [`WebRoot::plan`] plus `If-Modified-Since`
    /// and `If-Range` (RFC 9110 §13.2.2 order: 304 first, then Range).
    pub fn plan_request(&self, head: &RequestHead) -> Plan {
        self.plan_target(head, &head.target)
    }

    /// [`WebRoot::plan_request`] for `target` (raw, not decoded) instead of the head's: the
    /// part of the path below a mount.
    pub fn plan_target(&self, head: &RequestHead, target: &str) -> Plan {
        self.plan_with(
            head.method,
            target,
            head.range.as_deref(),
            head.if_range.as_deref(),
            head.if_modified_since.as_deref(),
        )
    }

    fn plan_with(
        &self,
        method: Method,
        target: &str,
        range: Option<&str>,
        if_range: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> Plan {
        if !matches!(method, Method::Get | Method::Head) {
            return NOT_ALLOWED;
        }
        let (path, meta) = match self.resolve(target) {
            Ok(found) => found,
            Err(plan) => return plan,
        };
        let total = meta.len();
        let last_modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| http::http_date(d.as_secs()));
        if let Some(lm) = last_modified
            .as_deref()
            .filter(|lm| Some(*lm) == if_modified_since)
        {
            return Plan::NotModified {
                last_modified: lm.to_owned(),
            };
        }
        let range = match (range, if_range) {
            (Some(r), None) => Some(r),
            (Some(r), Some(v)) if last_modified.as_deref() == Some(v) => Some(r),
            _ => None,
        };
        let selected = match range.filter(|_| method == Method::Get) {
            None => None,
            Some(value) => match parse_range(value, total) {
                Ok(sel) => sel,
                Err(RangeError::Unsatisfiable) => return UNSATISFIABLE,
            },
        };
        let (status, start, len) = match selected {
            Some((start, len)) => (206, start, len),
            None => (200, 0, total),
        };
        Plan::File {
            content_type: content_type(&path),
            path,
            status,
            start,
            len,
            total,
            last_modified,
        }
    }

    /// Maps a raw request path to a canonical regular file under the root.
    fn resolve(&self, target: &str) -> Result<(PathBuf, fs::Metadata), Plan> {
        if !target.starts_with('/') {
            return Err(FORBIDDEN);
        }
        check_segments(target)?;
        let decoded = http::percent_decode(target).map_err(|_| BAD_ENCODING)?;
        check_segments(&decoded)?;
        if decoded.chars().any(char::is_control) {
            return Err(BAD_ENCODING);
        }
        let mut candidate = self.root.clone();
        for segment in decoded.split('/').filter(|s| !s.is_empty()) {
            if segment.starts_with('.') {
                return Err(NOT_FOUND);
            }
            candidate.push(segment);
        }
        let mut path = self.contain(&candidate)?;
        let mut meta = fs::metadata(&path).map_err(|e| fs_error(&e))?;
        if meta.is_dir() && self.recordings {
            return Err(NOT_FOUND);
        }
        if meta.is_dir() && path == self.root && !path.join(INDEX_FILE).exists() {
            let console = path.join(&CONSOLE_PATH[1..]).join(INDEX_FILE);
            if self.contain(&console).is_ok_and(|c| c.is_file()) {
                return Err(Plan::Redirect {
                    location: CONSOLE_PATH,
                });
            }
        }
        if meta.is_dir() {
            path = self.contain(&path.join(INDEX_FILE))?;
            meta = fs::metadata(&path).map_err(|e| fs_error(&e))?;
        }
        let writing = self.recordings
            && path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().ends_with(PART_SUFFIX.as_bytes()));
        if !meta.is_file() || writing {
            return Err(NOT_FOUND);
        }
        Ok((path, meta))
    }

    /// Canonicalizes `candidate` and requires it under the root and not hidden below it.
    fn contain(&self, candidate: &Path) -> Result<PathBuf, Plan> {
        let path = fs::canonicalize(candidate).map_err(|e| fs_error(&e))?;
        let Ok(below) = path.strip_prefix(&self.root) else {
            return Err(FORBIDDEN);
        };
        for component in below.components() {
            match component {
                Component::Normal(name) if name.as_encoded_bytes().first() != Some(&b'.') => {}
                Component::Normal(_) => return Err(NOT_FOUND),
                _ => return Err(FORBIDDEN),
            }
        }
        Ok(path)
    }
}

/// Refuses backslashes, NULs and `.` / `..` segments (403).
fn check_segments(path: &str) -> Result<(), Plan> {
    if path.contains(['\\', '\0']) || path.split('/').any(|s| s == "." || s == "..") {
        return Err(FORBIDDEN);
    }
    Ok(())
}

/// A file-system error as a plan: permission problems are 403, the rest (missing, a file
/// used as a directory, symlink loops, names too long) 404.
fn fs_error(e: &io::Error) -> Plan {
    match e.kind() {
        io::ErrorKind::PermissionDenied => FORBIDDEN,
        _ => NOT_FOUND,
    }
}

/// Plans the answer for `target` under `root`. `target` is the raw request path (not
/// decoded), `range` the Range header. Canonicalizes `root` on every call; a server keeps a
/// [`WebRoot`] instead. A root that cannot be canonicalized is 404.
pub fn plan(root: &Path, method: Method, target: &str, range: Option<&str>) -> Plan {
    if !matches!(method, Method::Get | Method::Head) {
        return NOT_ALLOWED;
    }
    match WebRoot::new(root) {
        Ok(web_root) => web_root.plan(method, target, range),
        Err(_) => NOT_FOUND,
    }
}

/// The media type for a file name's extension (case-insensitive);
/// `application/octet-stream` when unknown. Text types say UTF-8.
pub fn content_type(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return "application/octet-stream";
    };
    let ext = ext.to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "log" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "ts" => "video/mp2t",
        "flv" => "video/x-flv",
        "mp4" | "m4v" | "m4s" => "video/mp4",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "mp3" => "audio/mpeg",
        "webm" => "video/webm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Parses a Range header (RFC 9110 §14.1.2) against a representation of `total` bytes.
///
/// `Ok(Some((start, len)))`: one satisfiable byte range, clipped to the file (`len >= 1`).
/// `Ok(None)`: serve the whole file with 200. That covers a unit other than `bytes`, syntax
/// we do not accept (RFC 9110 §14.2 lets a server ignore an invalid Range), `last < first`,
/// a suffix range on an empty file, and more than one range (no multipart/byteranges).
/// `Err(Unsatisfiable)`: `first >= total`, or a suffix length of 0: answer 416.
/// Numbers beyond `u64` saturate, which keeps their meaning (past any end).
pub fn parse_range(value: &str, total: u64) -> Result<Option<(u64, u64)>, RangeError> {
    let Some((unit, set)) = value.split_once('=') else {
        return Ok(None);
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Ok(None);
    }
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Ok(None);
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    if first.is_empty() {
        // suffix-range: the last `n` bytes.
        let Some(n) = saturating_decimal(last) else {
            return Ok(None);
        };
        if n == 0 {
            return Err(RangeError::Unsatisfiable);
        }
        if total == 0 {
            return Ok(None);
        }
        let len = n.min(total);
        return Ok(Some((total - len, len)));
    }
    let Some(first) = saturating_decimal(first) else {
        return Ok(None);
    };
    let last = if last.is_empty() {
        None
    } else {
        match saturating_decimal(last) {
            Some(l) if l >= first => Some(l),
            _ => return Ok(None),
        }
    };
    if first >= total {
        return Err(RangeError::Unsatisfiable);
    }
    let end = last.map_or(total - 1, |l| l.min(total - 1));
    Ok(Some((first, end - first + 1)))
}

/// `1*DIGIT`, saturating at `u64::MAX`.
fn saturating_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A directory tree under the system temp dir, removed on drop:
    /// ```text
    /// <base>/outside/secret.txt
    /// <base>/root/index.html            "<h1>home</h1>"
    /// <base>/root/a/b.txt               "0123456789", mtime 1994-11-06 08:49:37
    /// <base>/root/a/empty.txt
    /// <base>/root/live/index.html
    /// <base>/root/noindex/x.ts
    /// <base>/root/.env  .git/config
    /// <base>/root/link_out -> ../outside            (directory outside)
    /// <base>/root/link_secret -> <base>/outside/secret.txt
    /// <base>/root/link_etc -> /etc
    /// <base>/root/link_in -> a/b.txt                (inside: followed)
    /// <base>/root/link_hidden -> .env               (inside but hidden)
    /// <base>/root/link_sibling -> ../root2/secret.txt  (shares the root's name as a prefix)
    /// <base>/root/bad_index/index.html -> ../../outside/secret.txt
    /// <base>/root/sock                              (a Unix socket)
    /// <base>/root2/                                 (a sibling sharing the prefix)
    /// ```
    struct Tree {
        base: PathBuf,
        root: WebRoot,
    }

    impl Tree {
        fn new(name: &str) -> Tree {
            let base =
                std::env::temp_dir().join(format!("tinysrs-static-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&base);
            let root = base.join("root");
            for dir in [
                "outside",
                "root/a",
                "root/live",
                "root/noindex",
                "root/.git",
                "root/bad_index",
                "root2",
            ] {
                fs::create_dir_all(base.join(dir)).unwrap();
            }
            for (file, body) in [
                ("outside/secret.txt", "secret"),
                ("root/index.html", "<h1>home</h1>"),
                ("root/a/b.txt", "0123456789"),
                ("root/a/empty.txt", ""),
                ("root/live/index.html", "live"),
                ("root/noindex/x.ts", "ts"),
                ("root/.env", "PASSWORD=x"),
                ("root/.git/config", "[core]"),
                ("root2/secret.txt", "sibling"),
            ] {
                fs::write(base.join(file), body).unwrap();
            }
            let mtime = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
            fs::File::options()
                .write(true)
                .open(root.join("a/b.txt"))
                .unwrap()
                .set_modified(mtime)
                .unwrap();
            symlink("../outside", root.join("link_out")).unwrap();
            symlink(base.join("outside/secret.txt"), root.join("link_secret")).unwrap();
            symlink("/etc", root.join("link_etc")).unwrap();
            symlink("a/b.txt", root.join("link_in")).unwrap();
            symlink(".env", root.join("link_hidden")).unwrap();
            symlink("../root2/secret.txt", root.join("link_sibling")).unwrap();
            symlink(
                "../../outside/secret.txt",
                root.join("bad_index/index.html"),
            )
            .unwrap();
            // A socket file (not a regular file); a too-long temp path only makes it absent,
            // and "/sock" is 404 either way.
            let _ = std::os::unix::net::UnixListener::bind(root.join("sock"));
            let root = WebRoot::new(&root).unwrap();
            Tree { base, root }
        }

        fn get(&self, target: &str) -> Plan {
            self.root.plan(Method::Get, target, None)
        }

        fn file(&self, rel: &str) -> PathBuf {
            self.root.path().join(rel)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.base);
        }
    }

    fn status(plan: &Plan) -> u16 {
        plan.status()
    }

    #[test]
    fn serves_files_and_index() {
        let t = Tree::new("serve");
        assert_eq!(
            t.get("/a/b.txt"),
            Plan::File {
                path: t.file("a/b.txt"),
                status: 200,
                content_type: "text/plain; charset=utf-8",
                start: 0,
                len: 10,
                total: 10,
                last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
            }
        );
        for target in ["/", "//", "/index.html"] {
            match t.get(target) {
                Plan::File {
                    path,
                    content_type,
                    len,
                    ..
                } => {
                    assert_eq!(path, t.file("index.html"), "{target}");
                    assert_eq!(content_type, "text/html; charset=utf-8");
                    assert_eq!(len, 13);
                }
                other => panic!("{target}: {other:?}"),
            }
        }
        for target in ["/live", "/live/", "/%6cive/"] {
            assert!(
                matches!(t.get(target), Plan::File { path, .. } if path == t.file("live/index.html")),
                "{target}"
            );
        }
        assert!(matches!(t.get("/link_in"), Plan::File { path, .. } if path == t.file("a/b.txt")));
        assert!(matches!(
            t.get("/a/empty.txt"),
            Plan::File {
                len: 0,
                total: 0,
                ..
            }
        ));
        assert!(
            matches!(t.get("/a%2fb.txt"), Plan::File { .. }),
            "%2F is a separator"
        );
        // The free function gives the same answer.
        assert_eq!(
            plan(&t.base.join("root"), Method::Head, "/a/b.txt", None),
            t.root.plan(Method::Head, "/a/b.txt", None)
        );
    }

    #[test]
    fn traversal_is_refused() {
        let t = Tree::new("traversal");
        for target in [
            "/../etc/passwd",
            "/..",
            "/a/../../outside/secret.txt",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%2E%2e/outside/secret.txt",
            "/a/..%2f..%2fsecret",
            "/a/%2e%2e%2f%2e%2e%2foutside/secret.txt",
            "/a/.%2e/x",
            "/./index.html",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/..\\outside",
            "/a\0b",
            "etc/passwd",
            "*",
            "",
            "/link_out/secret.txt",
            "/link_secret",
            "/link_etc/passwd",
            "/link_etc/",
            "/link_sibling",
            "/bad_index/",
            "/bad_index",
        ] {
            assert_eq!(status(&t.get(target)), 403, "{target:?}");
        }
        // Names that are no escape but do not exist (or are not files).
        for target in [
            "//etc/passwd",
            "/etc/passwd",
            "/root2/secret.txt",
            "/missing",
            "/noindex/",
            "/sock",
            "/a/b.txt/x",
        ] {
            assert_eq!(status(&t.get(target)), 404, "{target:?}");
        }
        for target in ["/%00", "/%zz", "/%", "/%ff", "/a%0ab", "/a%7f"] {
            assert_eq!(status(&t.get(target)), 400, "{target:?}");
        }
    }

    #[test]
    fn hidden_files_are_not_found() {
        let t = Tree::new("hidden");
        for target in [
            "/.env",
            "/%2eenv",
            "/.git/config",
            "/.git/",
            "/link_hidden",
            "/a/.b",
        ] {
            assert_eq!(t.get(target), NOT_FOUND, "{target}");
        }
    }

    #[test]
    fn methods() {
        let t = Tree::new("methods");
        assert!(matches!(
            t.root.plan(Method::Head, "/", None),
            Plan::File { status: 200, .. }
        ));
        for m in [
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Other,
        ] {
            assert_eq!(t.root.plan(m, "/", None), NOT_ALLOWED);
            assert_eq!(plan(&t.base.join("root"), m, "/missing", None), NOT_ALLOWED);
        }
        assert_eq!(ALLOW, "GET, HEAD");
    }

    #[test]
    fn ranges_plan_206_and_416() {
        let t = Tree::new("ranges");
        let p = t.root.plan(Method::Get, "/a/b.txt", Some("bytes=2-5"));
        assert!(matches!(
            p,
            Plan::File {
                status: 206,
                start: 2,
                len: 4,
                total: 10,
                ..
            }
        ));
        assert_eq!(p.content_range().as_deref(), Some("bytes 2-5/10"));
        let p = t.root.plan(Method::Get, "/a/b.txt", Some("bytes=-3"));
        assert_eq!(p.content_range().as_deref(), Some("bytes 7-9/10"));
        let p = t.root.plan(Method::Get, "/a/b.txt", Some("bytes=0-"));
        assert!(matches!(
            p,
            Plan::File {
                status: 206,
                start: 0,
                len: 10,
                ..
            }
        ));
        assert_eq!(p.content_range().as_deref(), Some("bytes 0-9/10"));
        assert_eq!(
            t.root.plan(Method::Get, "/a/b.txt", Some("bytes=10-")),
            UNSATISFIABLE
        );
        assert_eq!(
            t.root.plan(Method::Get, "/a/empty.txt", Some("bytes=0-")),
            UNSATISFIABLE
        );
        // HEAD ignores Range; so does a GET with an invalid or multiple ranges.
        for (m, r) in [
            (Method::Head, "bytes=2-5"),
            (Method::Head, "bytes=10-"),
            (Method::Get, "bytes=5-2"),
            (Method::Get, "bytes=0-1,3-4"),
            (Method::Get, "items=0-1"),
        ] {
            let p = t.root.plan(m, "/a/b.txt", Some(r));
            assert!(
                matches!(
                    p,
                    Plan::File {
                        status: 200,
                        start: 0,
                        len: 10,
                        ..
                    }
                ),
                "{m:?} {r}"
            );
            assert_eq!(p.content_range(), None);
        }
        // Traversal is refused before any range is looked at.
        assert_eq!(
            status(&t.root.plan(Method::Get, "/../x", Some("bytes=0-"))),
            403
        );
    }

    fn head(
        target: &str,
        range: Option<&str>,
        if_range: Option<&str>,
        ims: Option<&str>,
    ) -> RequestHead {
        RequestHead {
            method: Method::Get,
            target: target.into(),
            query: String::new(),
            http10: false,
            keep_alive: true,
            host: None,
            range: range.map(Into::into),
            if_range: if_range.map(Into::into),
            if_modified_since: ims.map(Into::into),
            authorization: None,
            origin: None,
            content_type: None,
            if_match: None,
            content_length: 0,
            chunked_body: false,
            expect_continue: false,
            user_agent: None,
            referer: None,
        }
    }

    #[test]
    fn conditional_requests() {
        let t = Tree::new("conditional");
        const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
        const OTHER: &str = "Mon, 07 Nov 1994 08:49:37 GMT";
        assert_eq!(
            t.root
                .plan_request(&head("/a/b.txt", Some("bytes=0-0"), None, Some(LM))),
            Plan::NotModified {
                last_modified: LM.into()
            }
        );
        assert_eq!(
            status(
                &t.root
                    .plan_request(&head("/a/b.txt", None, None, Some(OTHER)))
            ),
            200
        );
        assert_eq!(
            status(
                &t.root
                    .plan_request(&head("/a/b.txt", Some("bytes=0-0"), Some(LM), None))
            ),
            206
        );
        assert_eq!(
            status(
                &t.root
                    .plan_request(&head("/a/b.txt", Some("bytes=0-0"), Some(OTHER), None))
            ),
            200
        );
        assert_eq!(
            status(&t.root.plan_request(&head(
                "/a/b.txt",
                Some("bytes=0-0"),
                Some("\"etag\""),
                None
            ))),
            200
        );
        assert_eq!(
            status(
                &t.root
                    .plan_request(&head("/a/b.txt", Some("bytes=0-0"), None, None))
            ),
            206
        );
        assert_eq!(
            status(&t.root.plan_request(&head("/.env", None, None, Some(LM)))),
            404
        );
    }

    #[test]
    fn web_root_must_be_a_directory() {
        let t = Tree::new("rootcheck");
        assert!(WebRoot::new(&t.base.join("root/a/b.txt")).is_err());
        assert!(WebRoot::new(&t.base.join("nope")).is_err());
        assert_eq!(
            plan(&t.base.join("nope"), Method::Get, "/", None),
            NOT_FOUND
        );
        // A root reached through a symlink is canonicalized; its files still serve.
        symlink(t.base.join("root"), t.base.join("root_link")).unwrap();
        let via_link = WebRoot::new(&t.base.join("root_link")).unwrap();
        assert_eq!(via_link.path(), t.root.path());
        assert!(matches!(
            via_link.plan(Method::Get, "/a/b.txt", None),
            Plan::File { .. }
        ));
    }

    #[test]
    fn content_types() {
        for (name, want) in [
            ("a.html", "text/html; charset=utf-8"),
            ("A.HTM", "text/html; charset=utf-8"),
            ("s.css", "text/css; charset=utf-8"),
            ("p.js", "text/javascript; charset=utf-8"),
            ("d.json", "application/json"),
            ("live.m3u8", "application/vnd.apple.mpegurl"),
            ("seg-1.ts", "video/mp2t"),
            ("a.flv", "video/x-flv"),
            ("a.mp4", "video/mp4"),
            ("a.png", "image/png"),
            ("a.jpg", "image/jpeg"),
            ("a.JPEG", "image/jpeg"),
            ("a.svg", "image/svg+xml"),
            ("favicon.ico", "image/x-icon"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.wasm", "application/wasm"),
            ("a.bin", "application/octet-stream"),
            ("Makefile", "application/octet-stream"),
            ("dir.d/noext", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }

    #[test]
    fn range_table() {
        use RangeError::Unsatisfiable;
        for (value, total, want) in [
            ("bytes=0-0", 10, Ok(Some((0, 1)))),
            ("bytes=0-9", 10, Ok(Some((0, 10)))),
            ("bytes=0-", 10, Ok(Some((0, 10)))),
            ("bytes=3-", 10, Ok(Some((3, 7)))),
            ("bytes=9-", 10, Ok(Some((9, 1)))),
            ("bytes=2-100", 10, Ok(Some((2, 8)))),
            ("bytes=-1", 10, Ok(Some((9, 1)))),
            ("bytes=-10", 10, Ok(Some((0, 10)))),
            ("bytes=-100", 10, Ok(Some((0, 10)))),
            ("BYTES=1-2", 10, Ok(Some((1, 2)))),
            ("bytes= 1-2 ", 10, Ok(Some((1, 2)))),
            ("bytes=1-2,", 10, Ok(Some((1, 2)))),
            ("bytes=0-18446744073709551615", 10, Ok(Some((0, 10)))),
            ("bytes=0-99999999999999999999999", 10, Ok(Some((0, 10)))),
            ("bytes=-99999999999999999999999", 10, Ok(Some((0, 10)))),
            ("bytes=-0", 10, Err(Unsatisfiable)),
            ("bytes=-000", 10, Err(Unsatisfiable)),
            ("bytes=10-", 10, Err(Unsatisfiable)),
            ("bytes=10-20", 10, Err(Unsatisfiable)),
            ("bytes=0-", 0, Err(Unsatisfiable)),
            ("bytes=99999999999999999999999-", 10, Err(Unsatisfiable)),
            ("bytes=18446744073709551615-", u64::MAX, Err(Unsatisfiable)),
            ("bytes=-5", 0, Ok(None)),
            ("bytes=5-2", 10, Ok(None)),
            ("bytes=0-1,3-4", 10, Ok(None)),
            ("bytes=0-1, 20-30", 10, Ok(None)),
            ("bytes=", 10, Ok(None)),
            ("bytes=-", 10, Ok(None)),
            ("bytes=a-b", 10, Ok(None)),
            ("bytes=1", 10, Ok(None)),
            ("bytes=+1-2", 10, Ok(None)),
            ("bytes=1 - 2", 10, Ok(None)),
            ("bytes=0x1-2", 10, Ok(None)),
            ("bytes=1-2-3", 10, Ok(None)),
            ("bytes 1-2", 10, Ok(None)),
            ("bytes =1-2", 10, Ok(None)),
            ("items=1-2", 10, Ok(None)),
            ("", 10, Ok(None)),
            ("garbage", 10, Ok(None)),
            (
                "bytes=18446744073709551614-",
                u64::MAX,
                Ok(Some((u64::MAX - 1, 1))),
            ),
            (
                "bytes=-18446744073709551615",
                u64::MAX,
                Ok(Some((0, u64::MAX))),
            ),
        ] {
            assert_eq!(parse_range(value, total), want, "{value:?} of {total}");
        }
    }

    use crate::testutil::XorShift;

    #[test]
    fn fuzz_plan_paths_stay_inside() {
        const PIECES: &[&str] = &[
            "/",
            "/",
            "//",
            "..",
            ".",
            "%2e",
            "%2E",
            "%2f",
            "%2F",
            "%5c",
            "\\",
            "%00",
            "%",
            "%zz",
            "a",
            "b.txt",
            "a/b.txt",
            "link_out",
            "link_secret",
            "link_etc",
            "link_in",
            "link_hidden",
            "bad_index",
            "secret.txt",
            "outside",
            "passwd",
            ".env",
            ".git",
            "index.html",
            "live",
            "sock",
            "é",
            "%c3%a9",
            "%ff",
            "\0",
            "?",
            "*",
            " ",
        ];
        let t = Tree::new("fuzz");
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut files = 0;
        for iter in 0..5_000 {
            let mut target = String::new();
            if rng.below(4) != 0 {
                target.push('/');
            }
            for _ in 0..rng.below(10) {
                target.push_str(PIECES[rng.below(PIECES.len())]);
            }
            let range = ["bytes=0-", "bytes=-3", "bytes=5-2", "bytes=99-"][rng.below(4)];
            match t.root.plan(Method::Get, &target, Some(range)) {
                Plan::File {
                    path,
                    start,
                    len,
                    total,
                    ..
                } => {
                    files += 1;
                    let below = path
                        .strip_prefix(t.root.path())
                        .unwrap_or_else(|_| panic!("iter {iter}: {target:?} escaped to {path:?}"));
                    assert!(
                        !below
                            .to_string_lossy()
                            .split('/')
                            .any(|s| s.starts_with('.')),
                        "iter {iter}: {target:?} served hidden {path:?}"
                    );
                    assert!(fs::metadata(&path).unwrap().is_file(), "iter {iter}");
                    assert!(start + len <= total, "iter {iter}");
                }
                Plan::Error { status, .. } => {
                    assert!(
                        [400, 403, 404, 416].contains(&status),
                        "iter {iter}: {status}"
                    );
                }
                Plan::NotModified { .. } => panic!("iter {iter}: 304 without a condition"),
                Plan::Redirect { .. } => panic!("iter {iter}: redirect from a root with an index"),
            }
        }
        assert!(files > 50, "the fuzz reached real files {files} times");
    }

    /// `/` of a root without `index.html` redirects to the console when the console is
    /// there; any other path, a root with its own index, or one without the console do not.
    #[test]
    fn root_without_index_redirects_to_console() {
        let base =
            std::env::temp_dir().join(format!("tinysrs-static-{}-console", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("console")).unwrap();
        fs::create_dir_all(base.join("other")).unwrap();
        fs::write(base.join("console/index.html"), "console").unwrap();
        let root = WebRoot::new(&base).unwrap();
        let redirect = Plan::Redirect {
            location: CONSOLE_PATH,
        };
        assert_eq!(root.plan(Method::Get, "/", None), redirect);
        assert_eq!(root.plan(Method::Head, "//", None), redirect);
        assert_eq!(root.plan(Method::Get, "/", None).status(), 302);
        assert_eq!(root.plan(Method::Get, "/other/", None), NOT_FOUND);
        assert_eq!(root.plan(Method::Post, "/", None), NOT_ALLOWED);
        let console = root.plan(Method::Get, "/console/", None);
        assert!(
            matches!(
                console,
                Plan::File {
                    status: 200,
                    total: 7,
                    ..
                }
            ),
            "{console:?}"
        );
        fs::write(base.join("index.html"), "home").unwrap();
        assert!(matches!(
            root.plan(Method::Get, "/", None),
            Plan::File { total: 4, .. }
        ));
        fs::remove_file(base.join("index.html")).unwrap();
        fs::remove_dir_all(base.join("console")).unwrap();
        assert_eq!(root.plan(Method::Get, "/", None), NOT_FOUND);
        let _ = fs::remove_dir_all(&base);
    }
}
