//! The `hls_ctx` query splitter (`server::hls_sessions::split_query`) on any query string a
//! player sends, and the master playlist made from its parts: never panics; the context is
//! the first `hls_ctx=` parameter's value; the rest keeps every other non-empty parameter in
//! order and nothing else; the playlist names the context and the rest once, on one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::server::hls_sessions::{master_playlist, split_query, CTX_PARAM};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, query) = text.split_once('?').unwrap_or(("/live/cam.m3u8", &text));
    let (ctx, rest) = split_query(query);

    let prefix = format!("{CTX_PARAM}=");
    let parts: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let first = parts.iter().find_map(|p| p.strip_prefix(prefix.as_str()));
    assert_eq!(ctx, first, "{query:?}");
    if let Some(ctx) = ctx {
        assert!(!ctx.contains('&'));
    }
    let others: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| !p.starts_with(prefix.as_str()))
        .collect();
    assert_eq!(rest, others.join("&"), "{query:?}");
    assert!(rest.len() <= query.len());

    let ctx = ctx.unwrap_or("k3v9x0aa");
    if [path, ctx, &rest].iter().any(|s| s.contains(['\n', '\r'])) {
        return;
    }
    let playlist = master_playlist(path, ctx, &rest);
    let last = playlist.lines().last().unwrap_or_default();
    let want = format!("{path}?{prefix}{ctx}");
    assert!(last.starts_with(&want), "{playlist:?}");
    if !rest.is_empty() {
        assert!(last.ends_with(&format!("&{rest}")), "{playlist:?}");
    }
});
