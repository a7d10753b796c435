//! What a reload changes, one line per key, written with the config file's key names and units.

use super::error::push_key;
use super::{Config, Vhost};

/// Keys that are read once at start; a reload logs the change but cannot apply it.
const RESTART_KEYS: &[&str] = &[
    "listen",
    "user",
    "http_server.listen",
    "http_server.enabled",
];

/// `old` → `new`, in file order: top-level keys, then vhosts (default first, then by name).
pub(super) fn diff(old: &Config, new: &Config) -> Vec<String> {
    let mut lines = Vec::new();
    changes("", &top_entries(old), &top_entries(new), &mut lines);
    for vhost in old.vhosts() {
        let mut path = String::from("vhost");
        push_key(&mut path, &vhost.name);
        match new.vhosts().find(|v| v.name == vhost.name) {
            Some(now) => changes(
                &path,
                &vhost_entries(vhost),
                &vhost_entries(now),
                &mut lines,
            ),
            None => lines.push(format!("{path}: removed")),
        }
    }
    for vhost in new.vhosts() {
        if !old.vhosts().any(|v| v.name == vhost.name) {
            let mut path = String::from("vhost");
            push_key(&mut path, &vhost.name);
            lines.push(format!("{path}: added"));
        }
    }
    lines
}

type Entries = Vec<(&'static str, String)>;

/// Both lists come from the same function, so they hold the same keys in the same order.
fn changes(prefix: &str, old: &Entries, new: &Entries, lines: &mut Vec<String>) {
    for ((key, was), (_, now)) in old.iter().zip(new) {
        if was == now {
            continue;
        }
        let mut path = prefix.to_owned();
        push_dotted(&mut path, key);
        let restart = if prefix.is_empty() && RESTART_KEYS.contains(key) {
            " (needs a restart to apply)"
        } else {
            ""
        };
        lines.push(format!("{path}: {was} -> {now}{restart}"));
    }
}

/// Appends an already dotted, bare key such as `play.gop_cache`.
fn push_dotted(path: &mut String, key: &str) {
    for part in key.split('.') {
        push_key(path, part);
    }
}

fn top_entries(c: &Config) -> Entries {
    vec![
        ("listen", c.listen.to_string()),
        ("max_connections", c.max_connections.to_string()),
        ("max_streams", c.max_streams.to_string()),
        ("chunk_size", c.chunk_size.to_string()),
        ("handshake_timeout", c.handshake_timeout_ms.to_string()),
        ("idle_timeout", c.idle_timeout_ms.to_string()),
        ("grace_period", c.grace_period_ms.to_string()),
        ("log.level", c.log_level.to_string().to_ascii_lowercase()),
        ("user", format!("{:?}", c.user.as_deref().unwrap_or(""))),
        ("http_server.enabled", c.http.enabled.to_string()),
        ("http_server.listen", c.http.listen.to_string()),
        ("http_server.dir", format!("{:?}", c.http.dir)),
        ("http_server.crossdomain", c.http.crossdomain.to_string()),
        ("http_api.enabled", c.api.enabled.to_string()),
        ("gb28181.enabled", c.gb28181.enabled.to_string()),
        ("gb28181.sip_listen", c.gb28181.sip_listen.to_string()),
        ("gb28181.media_listen", c.gb28181.media_listen.to_string()),
        (
            "gb28181.rtp_ports",
            format!("{}-{}", c.gb28181.rtp_ports.0, c.gb28181.rtp_ports.1),
        ),
        ("gb28181.server_id", c.gb28181.server_id.clone()),
        ("gb28181.domain", c.gb28181.domain.clone()),
        (
            "gb28181.password",
            if c.gb28181.password.is_empty() {
                "none"
            } else {
                "set"
            }
            .to_owned(),
        ),
        (
            "gb28181.passwords",
            format!("{} devices", c.gb28181.passwords.len()),
        ),
        ("gb28181.auto_invite", c.gb28181.auto_invite.to_string()),
        ("gb28181.transport", format!("{:?}", c.gb28181.transport)),
        ("gb28181.app", c.gb28181.app.clone()),
        (
            "gb28181.stream_name",
            format!("{:?}", c.gb28181.stream_name),
        ),
        (
            "gb28181.keepalive_timeout",
            c.gb28181.keepalive_timeout_s.to_string(),
        ),
        (
            "gb28181.media_timeout",
            c.gb28181.media_timeout_s.to_string(),
        ),
        (
            "gb28181.max_media_sessions",
            c.gb28181.max_media_sessions.to_string(),
        ),
        ("gb28181.host", format!("{:?}", c.gb28181.host)),
        (
            "http_api.auth",
            match &c.api.auth {
                Some((user, _)) => format!("user {user:?}"),
                None => "off".to_owned(),
            },
        ),
    ]
}

fn vhost_entries(v: &Vhost) -> Entries {
    let rules: Vec<String> = v
        .security
        .rules
        .iter()
        .map(|r| format!("{:?}", r.to_string()))
        .collect();
    vec![
        ("enabled", v.enabled.to_string()),
        ("min_latency", v.min_latency.to_string()),
        ("tcp_nodelay", v.tcp_nodelay.to_string()),
        ("play.gop_cache", v.gop_cache.to_string()),
        (
            "play.gop_cache_max_frames",
            v.gop_cache_max_frames.to_string(),
        ),
        (
            "play.gop_cache_max_bytes",
            v.gop_cache_max_bytes.to_string(),
        ),
        ("play.queue_length", seconds(v.queue_length_ms)),
        ("play.queue_max_bytes", v.queue_max_bytes.to_string()),
        ("play.mw_latency", v.mw_latency_ms.to_string()),
        ("play.time_jitter", v.time_jitter.as_str().to_owned()),
        (
            "publish.firstpkt_timeout",
            v.firstpkt_timeout_ms.to_string(),
        ),
        ("publish.normal_timeout", v.normal_timeout_ms.to_string()),
        ("security.enabled", v.security.enabled.to_string()),
        ("security.rules", format!("[{}]", rules.join(", "))),
        ("http_remux.enabled", v.http_remux.to_string()),
        ("hls.enabled", v.hls.enabled.to_string()),
        ("hls.hls_fragment", seconds(v.hls.fragment_ms)),
        ("hls.hls_window", seconds(v.hls.window_ms)),
        ("hls.hls_max_bytes", v.hls.max_bytes.to_string()),
        ("hls.hls_storage", v.hls.storage.as_str().to_owned()),
        ("hls.hls_path", format!("{:?}", v.hls.path)),
        ("hls.hls_cleanup", v.hls.cleanup.to_string()),
        ("hls.hls_dispose", v.hls.dispose_s.to_string()),
    ]
}

/// Milliseconds as the file writes them, in seconds: `10`, `0.5`, `0.125`.
fn seconds(ms: u32) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        let fraction = format!("{:03}", ms % 1000);
        format!("{}.{}", ms / 1000, fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn seconds_are_written_as_in_the_file() {
        assert_eq!(seconds(10_000), "10");
        assert_eq!(seconds(500), "0.5");
        assert_eq!(seconds(1), "0.001");
        assert_eq!(seconds(3_600_000), "3600");
        assert_eq!(seconds(1_250), "1.25");
    }
}
