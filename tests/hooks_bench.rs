//! `ci/hooks-bench`'s modes against the real server: `tinysrs-bench hook-server` answers the
//! server's `on_connect` and `on_play`, `plays` times sequential plays and `connects` plays at a
//! rate with the server's and the hook server's CPU; the hook server's counts must show one
//! `on_play` per play (so the figures are of plays that went through the hook).
//!
//! Hook server port: 127.0.0.1:32150.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Proc, Server};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const HOOK_PORT: u16 = 32150;

/// Runs the bench to its end (bounded) and returns its JSON line.
fn bench(server: &Server, args: &[&str]) -> Value {
    let mut proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_tinysrs-bench"))
            .args(args)
            .stdout(Stdio::piped()),
        &server.dir.path("bench.err"),
    );
    let status = proc.wait(Duration::from_secs(40));
    let mut stdout = String::new();
    if let Some(mut out) = proc.child.stdout.take() {
        out.read_to_string(&mut stdout).unwrap();
    }
    assert!(
        status.success(),
        "tinysrs-bench failed: {}\n{stdout}",
        proc.stderr()
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}\n{stdout}"))
}

#[test]
fn plays_and_connects_go_through_the_bench_hook_server() {
    let dir = common::TempDir::new("hooks-bench");
    let listen = format!("127.0.0.1:{HOOK_PORT}");
    let mut hooks = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_tinysrs-bench"))
            .args(["hook-server", "--listen", &listen])
            .stdout(Stdio::piped()),
        &dir.path("hooks.err"),
    );
    let mut out = BufReader::new(hooks.child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("hook server listening on"), "{line:?}");

    let url = format!("http://{listen}/api/v1");
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.http_hooks]\nenabled = true\n\
         on_connect = \"{url}/clients\"\non_play = \"{url}/sessions\"\n"
    ));
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k}: {v}"));

    let plays = bench(
        &server,
        &[
            "plays",
            &server.url("live/a"),
            "--plays",
            "20",
            "--kbps",
            "300",
        ],
    );
    assert_eq!(
        (f(&plays, "plays"), f(&plays, "failed")),
        (20.0, 0.0),
        "{plays}"
    );
    let (median, p99) = (f(&plays, "median_ms"), f(&plays, "p99_ms"));
    assert!(median > 0.0 && p99 >= median, "{plays}");

    let pid = server.pid().to_string();
    let hook_pid = hooks.child.id().to_string();
    let connects = bench(
        &server,
        &[
            "connects",
            &server.url("live/b"),
            "--rate",
            "20",
            "--duration",
            "1",
            "--kbps",
            "300",
            "--server-pid",
            &pid,
            "--hook-pid",
            &hook_pid,
        ],
    );
    assert_eq!(
        (f(&connects, "plays"), f(&connects, "failed")),
        (20.0, 0.0),
        "{connects}"
    );
    assert!(f(&connects, "server_cpu_s") > 0.0, "{connects}");
    assert!(f(&connects, "server_us_per_play") > 0.0, "{connects}");
    assert!(f(&connects, "hook_cpu_pct") >= 0.0, "{connects}");

    // The counts: plays (5 not counted + 20) and connects (20), each with its on_connect,
    // plus the two publishers' on_connect.
    kill(Pid::from_raw(hooks.child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(hooks.wait(Duration::from_secs(10)).success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let counts: Value = serde_json::from_str(rest.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {rest:?}"));
    assert_eq!(counts["actions"]["on_play"], 45, "{counts}");
    assert_eq!(counts["actions"]["on_connect"], 47, "{counts}");
    assert_eq!(counts["requests"], 92, "{counts}");
}
