//! Child processes (SRS's ingest, transcode and exec) against the real binary with real
//! ffmpeg: an `[[ingest]]` command looping a file makes a stream ffprobe reads over HTTP-FLV;
//! a transcode publishes `[stream]_sd` at the smaller size while its input is published and
//! stops after; `exec.publish` runs with the stream's name substituted and is restarted with
//! backoff when it exits; SIGTERM (then SIGKILL after the grace) at shutdown and PDEATHSIG
//! when tinysrs is killed leave no child. Ephemeral ports on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::{ffmpeg_publish, ffmpeg_read, ffprobe, get_json, require, Server, TempDir};
use serde_json::Value;

/// The test clip (H.264 + AAC, 1 s), from ffmpeg 5.1.
const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/ffmpeg-5.1-h264-aac-1s.flv"
);

fn start(extra: &str) -> Server {
    Server::start(&format!("http_api.listen = \"127.0.0.1:0\"\n{extra}"))
}

fn processes(server: &Server) -> Vec<Value> {
    let addr = server.api_addr.expect("http_api.listen");
    let (status, body) = get_json(addr, "/api/v1/processes");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], 0, "{body}");
    body["processes"].as_array().cloned().unwrap_or_default()
}

/// Waits until the process `id` satisfies `ok`; its JSON.
fn wait_process(
    server: &Server,
    id: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + timeout;
    loop {
        let list = processes(server);
        if let Some(p) = list.iter().find(|p| p["id"] == id).filter(|p| ok(p)) {
            return p.clone();
        }
        assert!(
            Instant::now() < end,
            "process {id} not as expected: {list:?}\nlog:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_until(what: &str, timeout: Duration, ok: impl Fn() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The state letter of a process (`R`, `S`, `Z`...), or None when there is no such process.
fn state(pid: u64) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rfind(')').map_or("", |at| &stat[at + 1..]);
    rest.trim_start().chars().next()
}

/// True while `pid` runs. A zombie of our own child's would be tinysrs's fault (`ppid` is
/// tinysrs while it lives, so it never reaped it); once tinysrs is gone an orphan's zombie
/// belongs to pid 1, which in some containers reaps nobody: dead too.
fn alive(pid: u64) -> bool {
    state(pid).is_some_and(|s| s != 'Z')
}

/// The processes of process group `pgid`.
fn group_members(pgid: u64) -> Vec<u64> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the ")" of the name: state, ppid, pgrp.
        let rest = stat.rfind(')').map_or("", |at| &stat[at + 1..]);
        if rest
            .split_whitespace()
            .nth(2)
            .and_then(|g| g.parse::<u64>().ok())
            == Some(pgid)
            && alive(pid)
        {
            found.push(pid);
        }
    }
    found
}

fn stream_names(server: &Server) -> Vec<String> {
    let (_, body) = get_json(server.api_addr.unwrap(), "/api/v1/streams");
    body["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn an_ingest_command_loops_a_file_into_a_stream_and_stops_with_the_server() {
    require("ffmpeg");
    let mut server = start(&format!(
        "[[ingest]]\ncommand = [\"ffmpeg\", \"-nostdin\", \"-re\", \"-stream_loop\", \"-1\", \
         \"-i\", \"{CLIP}\", \"-c\", \"copy\", \"-f\", \"flv\", \
         \"rtmp://127.0.0.1:[port]/[app]/[stream]\"]\nstream = \"live/loop\"\n"
    ));
    let p = wait_process(&server, "ingest[0]", Duration::from_secs(10), |p| {
        p["state"] == "running"
    });
    assert_eq!(p["kind"], "ingest");
    let port = server.addr.port().to_string();
    assert_eq!(
        p["argv"].as_array().unwrap().last().unwrap(),
        &Value::from(format!("rtmp://127.0.0.1:{port}/live/loop"))
    );
    let pid = p["pid"].as_u64().unwrap();
    assert!(server.wait_log(
        &format!("exec: started ingest[0] (pid {pid})"),
        Duration::from_secs(1)
    ));
    wait_until("the ingest's stream", Duration::from_secs(10), || {
        stream_names(&server).contains(&"loop".to_owned())
    });
    // Played over HTTP-FLV for 3 s (three loops of the clip): H.264 and AAC, no error.
    let dir = TempDir::new("exec-ingest");
    let file = dir.path("loop.flv");
    let (ok, err) = ffmpeg_read(
        &dir,
        &server.http_url("live/loop.flv"),
        3,
        &file,
        Duration::from_secs(30),
    );
    assert!(ok, "ffmpeg could not read the ingest: {err}");
    let probe = ffprobe(&dir, file.to_str().unwrap(), Duration::from_secs(30));
    assert!(probe.success, "{}", probe.errors);
    assert!(probe.codecs.contains(&"h264".to_owned()), "{probe:?}");
    assert!(probe.video_frames >= 25, "{probe:?}");
    // The API shows ffmpeg's stderr tail (its banner at least).
    let p = processes(&server).remove(0);
    assert!(p["stderr"].as_str().unwrap().contains("ffmpeg"), "{p}");
    // SIGTERM to tinysrs: ffmpeg gets SIGTERM and is reaped before tinysrs exits.
    let status = server.stop(Duration::from_secs(10)).expect("tinysrs stops");
    assert!(status.success(), "{status:?}");
    // Reaped by tinysrs: not even a zombie left.
    assert_eq!(state(pid), None, "ffmpeg (pid {pid}) outlived tinysrs");
    assert!(
        server
            .log()
            .contains(&format!("exec: ingest[0] (pid {pid}) exited")),
        "{}",
        server.log()
    );
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_grace_and_none_outlives_sigkill() {
    // A shell that ignores SIGTERM, as its sleep does: SIGKILL to the group 3 s later.
    let mut server = start(
        "[[ingest]]\ncommand = \"trap '' TERM; sleep 1000\"\nshell = true\n\
         [[ingest]]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let stubborn = wait_process(&server, "ingest[0]", Duration::from_secs(10), |p| {
        p["state"] == "running"
    })["pid"]
        .as_u64()
        .unwrap();
    wait_until("the shell's sleep", Duration::from_secs(5), || {
        group_members(stubborn).len() == 2
    });
    let started = Instant::now();
    let status = server.stop(Duration::from_secs(10)).expect("tinysrs stops");
    assert!(status.success());
    assert!(started.elapsed() >= Duration::from_millis(2_900));
    assert!(
        group_members(stubborn).is_empty(),
        "{:?}",
        group_members(stubborn)
    );
    assert!(server.log().contains("SIGKILL"), "{}", server.log());

    // SIGKILL to tinysrs: its children die with it (PR_SET_PDEATHSIG).
    let server = start("[[ingest]]\ncommand = [\"sleep\", \"1000\"]\n");
    let pid = wait_process(&server, "ingest[0]", Duration::from_secs(10), |p| {
        p["state"] == "running"
    })["pid"]
        .as_u64()
        .unwrap();
    server.signal("KILL");
    // The kernel sends the SIGKILL as tinysrs exits; sleep takes a moment to die.
    wait_until("sleep to die with tinysrs", Duration::from_secs(5), || {
        !alive(pid)
    });
}

#[test]
fn a_reload_that_removes_an_ingest_stops_it_and_one_that_adds_starts_it() {
    let server = start("[[ingest]]\ncommand = [\"sleep\", \"1000\"]\n");
    let pid = wait_process(&server, "ingest[0]", Duration::from_secs(10), |p| {
        p["state"] == "running"
    })["pid"]
        .as_u64()
        .unwrap();
    let text = std::fs::read_to_string(&server.config_path).unwrap();
    let without = text.replace("[[ingest]]\ncommand = [\"sleep\", \"1000\"]\n", "");
    std::fs::write(
        &server.config_path,
        format!("{without}[[ingest]]\ncommand = [\"sleep\", \"999\"]\n"),
    )
    .unwrap();
    server.signal("HUP");
    // The same id with another command: the old one is stopped, the new one started.
    let p = wait_process(&server, "ingest[0]", Duration::from_secs(10), |p| {
        p["state"] == "running" && p["argv"][1] == "999"
    });
    wait_until(
        "the removed ingest to be reaped",
        Duration::from_secs(5),
        || state(pid).is_none(),
    );
    std::fs::write(&server.config_path, &without).unwrap();
    server.signal("HUP");
    wait_until("no process left", Duration::from_secs(10), || {
        processes(&server).is_empty()
    });
    let pid = p["pid"].as_u64().unwrap();
    wait_until(
        "the second one to be reaped",
        Duration::from_secs(5),
        || state(pid).is_none(),
    );
}

#[test]
fn a_transcode_publishes_the_smaller_variant_while_its_input_is_published() {
    require("ffmpeg");
    let server = start(
        "[vhost.__defaultVhost__.transcode]\nenabled = true\nvcodec = \"libx264\"\n\
         vpreset = \"ultrafast\"\nvwidth = 160\nvheight = 120\nvbitrate = 200\n\
         acodec = \"copy\"\n",
    );
    let dir = TempDir::new("exec-transcode");
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/x"), 60, 25, "500k");
    let id = "transcode:sd:__defaultVhost__/live/x";
    wait_process(&server, id, Duration::from_secs(15), |p| {
        p["state"] == "running"
    });
    wait_until("live/x_sd", Duration::from_secs(20), || {
        stream_names(&server).contains(&"x_sd".to_owned())
    });
    let file = dir.path("sd.flv");
    let (ok, err) = ffmpeg_read(
        &dir,
        &server.http_url("live/x_sd.flv"),
        2,
        &file,
        Duration::from_secs(30),
    );
    assert!(ok, "ffmpeg could not read live/x_sd: {err}");
    let probe = ffprobe(&dir, file.to_str().unwrap(), Duration::from_secs(30));
    assert_eq!(probe.video_size, Some((160, 120)), "{probe:?}");
    // Its output is not transcoded again.
    assert_eq!(processes(&server).len(), 1, "{:?}", processes(&server));
    // The input goes away: the transcode is stopped and its stream goes too.
    let _ = publisher.child.kill();
    let _ = publisher.child.wait();
    wait_until("the transcode to stop", Duration::from_secs(10), || {
        processes(&server).is_empty()
    });
    wait_until("live/x_sd to go", Duration::from_secs(10), || {
        !stream_names(&server).contains(&"x_sd".to_owned())
    });
}

#[test]
fn exec_publish_runs_with_the_streams_name_and_is_restarted_with_backoff() {
    require("ffmpeg");
    let dir = TempDir::new("exec-publish");
    let out = dir.path("out");
    std::fs::create_dir_all(&out).unwrap();
    // No shell: touch creates [app]-[stream].txt. With a shell, each run appends a line.
    let server = start(&format!(
        "[vhost.__defaultVhost__.exec]\nenabled = true\nshell = true\n\
         publish = \"echo [vhost] [app] [stream] >> {0}/runs.txt\"\n",
        out.display()
    ));
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/cam"), 60, 25, "300k");
    let id = "exec:__defaultVhost__/live/cam";
    // It exits at once each time: started again after 1 s, then 2 s.
    let p = wait_process(&server, id, Duration::from_secs(15), |p| {
        p["restarts"].as_u64() >= Some(2)
    });
    assert_eq!(p["last_exit"], "exit status 0", "{p}");
    // `restarts` counts a run when it is started: the third run's line may come a moment
    // later (a CI run under load read two).
    let read_runs = || std::fs::read_to_string(out.join("runs.txt")).unwrap_or_default();
    wait_until("the third run's line", Duration::from_secs(5), || {
        read_runs().lines().count() >= 3
    });
    let runs = read_runs();
    let lines: Vec<&str> = runs.lines().collect();
    assert!(lines.len() >= 3, "{runs}");
    assert!(
        lines.iter().all(|l| *l == "__defaultVhost__ live cam"),
        "{runs}"
    );
    // Between runs it waits: in backoff, with the time left.
    let p = wait_process(&server, id, Duration::from_secs(10), |p| {
        p["state"] == "backoff"
    });
    assert!(p["retry_in_ms"].as_u64().unwrap() <= 30_000, "{p}");
    let _ = publisher.child.kill();
    let _ = publisher.child.wait();
    wait_until("exec to be dropped", Duration::from_secs(10), || {
        processes(&server).is_empty()
    });
}

#[test]
fn exec_without_a_shell_substitutes_in_each_word() {
    require("ffmpeg");
    let dir = TempDir::new("exec-touch");
    let server = start(&format!(
        "[vhost.__defaultVhost__.exec]\nenabled = true\n\
         publish = [\"touch\", \"{}/[app]-[stream] done.txt\"]\n",
        dir.0.display()
    ));
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/door"), 60, 25, "300k");
    let file = dir.path("live-door done.txt");
    wait_until("the file exec writes", Duration::from_secs(15), || {
        file.exists()
    });
    let _ = publisher.child.kill();
}
