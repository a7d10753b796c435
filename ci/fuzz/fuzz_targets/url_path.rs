//! URL paths and the static web root: percent-decoding and query parsing never panic, and
//! no request target — however encoded — plans a file outside the root (a small tree with a
//! symlink pointing out of it is built in a temporary directory). Range headers give ranges
//! inside the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tinysrs::server::static_files::{parse_range, Plan, WebRoot};
use tinysrs::wire::http::{self, Method};

/// `<tmp>/root` (served) and `<tmp>/outside` (not), kept for the whole run.
fn web_root() -> &'static (WebRoot, PathBuf) {
    static ROOT: OnceLock<(WebRoot, PathBuf)> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("tinysrs-fuzz-url-{}", std::process::id()));
        let root = base.join("root");
        let outside = base.join("outside");
        for dir in [root.join("live/sub"), root.join("a"), outside.clone()] {
            std::fs::create_dir_all(&dir).expect("create the fuzz web root");
        }
        for (path, text) in [
            (root.join("index.html"), "index"),
            (root.join("live/index.html"), "live"),
            (root.join("a/b.txt"), "0123456789"),
            (root.join(".hidden"), "hidden"),
            (outside.join("secret.txt"), "secret"),
        ] {
            std::fs::write(path, text).expect("write the fuzz web root");
        }
        let _ = std::os::unix::fs::symlink(&outside, root.join("link_out"));
        let _ = std::os::unix::fs::symlink(root.join("a"), root.join("link_in"));
        let web = WebRoot::new(&root).expect("canonical fuzz web root");
        let canonical = web.path().to_path_buf();
        (web, canonical)
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (target, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (query, range) = rest.split_once('\n').unwrap_or((rest, ""));

    if let Ok(decoded) = http::percent_decode(target) {
        assert!(decoded.len() <= target.len());
    }
    let _ = http::query_param(query, "vhost");
    let _ = http::query_param(query, target);

    let (web, root) = web_root();
    let range = (!range.is_empty()).then_some(range);
    match web.plan(Method::Get, target, range) {
        Plan::File {
            path,
            start,
            len,
            total,
            ..
        } => {
            assert!(
                path.starts_with(root),
                "{target:?} escaped the root: {path:?}"
            );
            assert!(!path.components().any(|c| c.as_os_str() == "outside"));
            assert!(start.saturating_add(len) <= total);
        }
        Plan::Error { status, .. } => assert!((400..500).contains(&status)),
        Plan::NotModified { .. } => {}
        // "/" of a root without index.html but with the console: the console's own path.
        Plan::Redirect { location } => assert_eq!(location, "/console/"),
    }

    let total = data.len() as u64;
    if let Ok(Some((start, len))) = parse_range(query, total) {
        assert!(len >= 1 && start + len <= total, "{query:?} over {total}");
    }
});
