//! The setup shared by the forward and TLS tests: a tinysrs on ephemeral ports with its API,
//! and waits on its `/api/v1/streams` (each bounded).

use std::time::{Duration, Instant};

use super::{get_json, Server};

/// A tinysrs on ephemeral ports of 127.0.0.1 (RTMP, HTTP, API), with `extra`.
pub fn with_api(extra: &str) -> Server {
    Server::start(&format!("http_api.listen = \"127.0.0.1:0\"\n{extra}"))
}

/// The stream objects of a server's `/api/v1/streams`.
pub fn streams(server: &Server) -> Vec<serde_json::Value> {
    let (_, json) = get_json(server.api_addr.expect("API"), "/api/v1/streams");
    json["streams"].as_array().cloned().unwrap_or_default()
}

/// Waits until `f` holds for some stream of `server` (bounded by `timeout`).
pub fn wait_stream(
    server: &Server,
    timeout: Duration,
    f: impl Fn(&serde_json::Value) -> bool,
) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if streams(server).iter().any(&f) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Stream `name` is published.
pub fn published(name: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |s| s["name"] == name && s["publish"]["active"] == true
}

/// The config of a default vhost forwarding to `url`.
pub fn forward_to(url: &str) -> String {
    format!("[vhost.__defaultVhost__.forward]\nenabled = true\ndestination = \"{url}\"\n")
}
