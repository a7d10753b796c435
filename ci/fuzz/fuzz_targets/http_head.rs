//! HTTP/1.1 request heads: decoding any bytes gives a head, "need more" (only below the head
//! limit) or an error with a 4xx/5xx status. A decoded head decodes the same from exactly the
//! bytes it consumed, its target is a path (or `*`), and routing it against the embedded
//! configuration never panics; stream routes name a non-empty app and stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::config::Config;
use tinysrs::server::http::{requested_vhost, route, Route};
use tinysrs::wire::http::{self, MAX_HEAD_LEN};

fuzz_target!(|data: &[u8]| {
    let (head, used) = match http::decode_request_head(data) {
        Ok(Some(v)) => v,
        Ok(None) => {
            assert!(data.len() < MAX_HEAD_LEN, "incomplete at the head limit");
            return;
        }
        Err(e) => {
            assert!((400..600).contains(&e.status()));
            return;
        }
    };
    assert!(used <= data.len().min(MAX_HEAD_LEN));
    assert!(
        head.target.starts_with('/') || head.target == "*",
        "{:?}",
        head.target
    );
    let (alone, alone_used) = http::decode_request_head(&data[..used])
        .expect("the consumed bytes decode alone")
        .expect("the consumed bytes are a whole head");
    assert_eq!((alone, alone_used), (head.clone(), used));
    if head.chunked_body {
        assert_eq!(head.content_length, 0);
    }

    let _ = requested_vhost(&head);
    let config = Config::embedded();
    match route(&config, &head, |key| key.stream.len() % 2 == 0) {
        Route::Flv(key) | Route::Ts(key) | Route::Playlist(key) | Route::Segment(key, _) => {
            assert!(!key.app.is_empty() && !key.stream.is_empty());
            assert!(!key.app.split('/').any(|s| s == ".." || s.is_empty()));
        }
        Route::Api(path) => assert!(path.starts_with("/api")),
        Route::Rtc(path) => assert!(path.starts_with("/rtc/v1/")),
        Route::Dvr { rest, .. } => assert!(rest.starts_with('/'), "{rest:?}"),
        Route::Static | Route::NotFound | Route::Metrics => {}
    }
});
