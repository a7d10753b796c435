//! `publish.kickoff_for_idle` against the real binary: ffmpeg publishing over RTMP with nobody
//! watching is disconnected after the idle time; with an HTTP-FLV player it publishes to the
//! end.

mod common;

use std::time::{Duration, Instant};

use common::{ffmpeg_publish, ffmpeg_read, Server, TempDir};

const CONFIG: &str = "[vhost.__defaultVhost__.publish]\nkickoff_for_idle = 3\n\
                      [vhost.__defaultVhost__.hls]\nenabled = false\n";

#[test]
fn an_unwatched_publisher_is_kicked_off_and_a_watched_one_is_not() {
    let server = Server::start(CONFIG);
    let dir = TempDir::new("kickoff");

    // Nobody plays: disconnected 3 s (and up to a 1 s sweep) after it started publishing.
    let started = Instant::now();
    let mut alone = ffmpeg_publish(&dir, &server.url("live/alone"), 30, 25, "300k");
    let status = alone.wait(Duration::from_secs(20));
    let took = started.elapsed();
    assert!(
        !status.success(),
        "ffmpeg published its 30 s: {}",
        server.log()
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(12),
        "kicked after {took:?}"
    );
    let log = server.log();
    assert!(
        log.contains("publish __defaultVhost__/live/alone kicked off: no viewer for 3 s"),
        "{log}"
    );

    // An HTTP-FLV player waits for the stream, then watches it to the end: no kick.
    let url = server.http_url("live/watched.flv");
    let out = dir.path("watched.flv");
    let reader_dir = TempDir::new("kickoff-reader");
    let reader = std::thread::spawn(move || {
        ffmpeg_read(&reader_dir, &url, 9, &out, Duration::from_secs(30))
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut watched = ffmpeg_publish(&dir, &server.url("live/watched"), 8, 25, "300k");
    let status = watched.wait(Duration::from_secs(30));
    assert!(status.success(), "{}\n{}", watched.stderr(), server.log());
    let (_, stderr) = reader.join().unwrap();
    assert!(
        !server.log().contains("live/watched kicked off"),
        "{stderr}\n{}",
        server.log()
    );
}
