use std::net::{IpAddr, SocketAddr};

use super::*;

/// The shipped example; the path is the same in the scratch and the real crate.
const EXAMPLE: &str = include_str!("../../rootfs/common/etc/tinysrs/tinysrs.toml");

fn parse(text: &str) -> Config {
    Config::from_toml_str(text, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// (line, column, key, message) of the error `text` must give.
fn fail(text: &str) -> (usize, usize, String, String) {
    match Config::from_toml_str(text, "t.toml") {
        Ok(_) => panic!("accepted: {text}"),
        Err(ConfigError::Parse {
            origin,
            line,
            column,
            key,
            message,
        }) => {
            assert_eq!(origin, "t.toml");
            (line, column, key, message)
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn fail_display(text: &str) -> String {
    Config::from_toml_str(text, "t.toml")
        .expect_err(text)
        .to_string()
}

#[test]
fn empty_text_is_the_embedded_defaults() {
    assert_eq!(parse(""), Config::embedded());
    assert_eq!(parse("# only a comment\n\n"), Config::embedded());
    let c = Config::embedded();
    assert_eq!(c.listen, "0.0.0.0:1935".parse::<SocketAddr>().unwrap());
    assert_eq!(c.max_connections, 1000);
    assert_eq!(c.chunk_size, 60_000);
    assert_eq!(c.handshake_timeout_ms, 10_000);
    assert_eq!(c.idle_timeout_ms, 30_000);
    assert_eq!(c.grace_period_ms, 5_000);
    assert_eq!(c.log_level, log::LevelFilter::Info);
    let v = c.default_vhost();
    assert_eq!(v.name, DEFAULT_VHOST);
    assert!(v.enabled && !v.min_latency && !v.tcp_nodelay && v.gop_cache);
    assert_eq!(v.gop_cache_max_frames, 2500);
    assert_eq!(v.gop_cache_max_bytes, 8_388_608);
    assert_eq!(v.queue_length_ms, 10_000);
    assert_eq!(v.queue_max_bytes, 4_194_304);
    assert_eq!(v.mw_latency_ms, 350);
    assert_eq!(v.time_jitter, TimeJitter::Full);
    assert_eq!(v.firstpkt_timeout_ms, 20_000);
    assert_eq!(v.normal_timeout_ms, 5_000);
    assert_eq!(v.security, Security::default());
    assert_eq!(c.vhosts().count(), 1);
}

#[cfg(all(feature = "hls", feature = "api", feature = "http-flv"))]
#[test]
fn shipped_example_is_the_defaults_plus_example_rules() {
    let shipped = parse(EXAMPLE);
    let mut expected = Config::embedded();
    // The only deliberate difference: example rules, inactive while security is disabled.
    expected.default_vhost.security.rules = vec![
        "allow publish 127.0.0.1".parse().unwrap(),
        "allow play all".parse().unwrap(),
        "deny play 10.0.0.0/8".parse().unwrap(),
    ];
    assert_eq!(shipped, expected);
    assert!(!shipped.default_vhost().security.enabled);
}

#[test]
fn shipped_example_mentions_every_key() {
    for key in [
        "listen =",
        "max_connections =",
        "chunk_size =",
        "handshake_timeout =",
        "idle_timeout =",
        "grace_period =",
        "[log]",
        "level =",
        "[vhost.__defaultVhost__]",
        "enabled =",
        "min_latency =",
        "tcp_nodelay =",
        "[vhost.__defaultVhost__.play]",
        "gop_cache =",
        "gop_cache_max_frames =",
        "gop_cache_max_bytes =",
        "queue_length =",
        "queue_max_bytes =",
        "mw_latency =",
        "time_jitter =",
        "[vhost.__defaultVhost__.publish]",
        "firstpkt_timeout =",
        "normal_timeout =",
        "[vhost.__defaultVhost__.security]",
        "rules =",
    ] {
        assert!(EXAMPLE.lines().any(|l| l.starts_with(key)), "{key} missing");
    }
}

#[cfg(all(feature = "hls", feature = "api", feature = "http-flv"))]
#[test]
fn every_key_is_read() {
    let c = parse(
        r#"
listen = "[::1]:19350"
max_connections = 7
max_streams = 9
chunk_size = 4096
handshake_timeout = 1
idle_timeout = 3600000
grace_period = 0
[log]
level = "off"
[rtmp]
max_message_bytes = 1048576
max_pending_bytes = 1310720
[vhost.__defaultVhost__]
enabled = false
min_latency = true
tcp_nodelay = true
[vhost.__defaultVhost__.play]
gop_cache = false
gop_cache_max_frames = 1
gop_cache_max_bytes = 1
queue_length = 0.5
queue_max_bytes = 1000
mw_latency = 0
time_jitter = "zero"
[vhost.__defaultVhost__.publish]
firstpkt_timeout = 2
normal_timeout = 3
mr = true
mr_latency = 1000
[vhost.__defaultVhost__.security]
enabled = true
rules = ["deny play all"]
[vhost.__defaultVhost__.refer]
enabled = true
all = "a.example  b.example"
play = [".Cam.Example"]
[vhost.__defaultVhost__.http_remux]
enabled = false
[vhost.__defaultVhost__.hls]
enabled = false
hls_fragment = 1.5
hls_window = 30
hls_max_bytes = 1048576
hls_storage = "disk"
hls_path = "/tmp/hls"
hls_cleanup = false
hls_dispose = 0
hls_nb_notify = 100
[vhost.__defaultVhost__.dvr]
enabled = false
dvr_apply = ["live/cam1", "live/cam2"]
dvr_plan = "segment"
dvr_duration = 2
dvr_fragment = 3
dvr_path = "/mnt/usb/dvr/[app]/[stream]/[2006][01][02]-[15][04][05].flv"
dvr_wait_keyframe = false
time_jitter = "off"
dvr_max_bytes = 8589934592
dvr_min_free_bytes = 1048576
dvr_sync = 5
dvr_queue_bytes = 524288
http_mount = "/recordings/"
[vhost.__defaultVhost__.http_hooks]
enabled = false
on_connect = "http://127.0.0.1:8085/api/v1/clients http://localhost:8085/api/v1/clients"
on_close = ["http://127.0.0.1:8085/api/v1/clients"]
on_publish = ["http://127.0.0.1:8085/api/v1/streams", "http://[::1]:8085/s?a=1"]
on_unpublish = "http://127.0.0.1:8085/api/v1/streams"
on_play = []
on_stop = ["http://10.0.0.2/api/v1/sessions"]
on_dvr = ["http://10.0.0.2/api/v1/dvrs"]
on_hls = ["http://10.0.0.2/api/v1/hls"]
on_hls_notify = "http://10.0.0.2/[app]/[ts_url][param]"
hooks_timeout = 5
[vhost.__defaultVhost__.forward]
enabled = false
destination = "127.0.0.1:19350 rtmp://10.0.0.3/up/cam?key=k"
queue_max_bytes = 1048576
backend = "http://127.0.0.1:8085/api/v1/forward"
[vhost.__defaultVhost__.cluster]
mode = "remote"
origin = []
token_traverse = true
protocol = "flv"
pull_timeout = 2.5
[http_server]
enabled = false
listen = 8081
dir = "/www"
crossdomain = false
max_body_bytes = 0
[http_server.https]
listen = 8443
key = "/etc/k.pem"
cert = "/etc/c.pem"
[http_api]
enabled = false
listen = 1985
[http_api.auth]
enabled = true
username = "admin"
password = "secret"
"#,
    );
    assert_eq!(c.listen, "[::1]:19350".parse::<SocketAddr>().unwrap());
    assert_eq!(c.max_connections, 7);
    assert_eq!(c.max_streams, 9);
    assert_eq!(c.chunk_size, 4096);
    assert_eq!(c.handshake_timeout_ms, 1);
    assert_eq!(c.idle_timeout_ms, 3_600_000);
    assert_eq!(c.grace_period_ms, 0);
    assert_eq!(c.log_level, log::LevelFilter::Off);
    assert_eq!(
        (c.rtmp_max_message_bytes, c.rtmp_max_pending_bytes),
        (1 << 20, 1_310_720)
    );
    assert_eq!(
        c.http,
        crate::config::HttpServer {
            enabled: false,
            listen: "0.0.0.0:8081".parse().unwrap(),
            dir: "/www".into(),
            crossdomain: false,
            max_body_bytes: 0,
            https: crate::config::Https {
                enabled: false,
                listen: "0.0.0.0:8443".parse().unwrap(),
                key: "/etc/k.pem".into(),
                cert: "/etc/c.pem".into(),
            },
        }
    );
    assert!(!c.api.enabled);
    assert_eq!(c.api.listen, Some("0.0.0.0:1985".parse().unwrap()));
    assert_eq!(Config::embedded().api.listen, None, "off unless written");
    assert_eq!(
        c.api.auth,
        Some(crate::config::ApiAuth {
            username: "admin".into(),
            password: Some("secret".into()),
            password_file: None,
            read_only_open: false,
        })
    );
    let v = c.default_vhost();
    assert_eq!(
        v,
        &Vhost {
            name: DEFAULT_VHOST.into(),
            enabled: false,
            min_latency: true,
            tcp_nodelay: true,
            gop_cache: false,
            gop_cache_max_frames: 1,
            gop_cache_max_bytes: 1,
            queue_length_ms: 500,
            queue_max_bytes: 1000,
            mw_latency_ms: 0,
            time_jitter: TimeJitter::Zero,
            firstpkt_timeout_ms: 2,
            normal_timeout_ms: 3,
            mr: true,
            mr_latency_ms: 1000,
            kickoff_for_idle_s: 0,
            security: Security {
                enabled: true,
                rules: vec!["deny play all".parse().unwrap()],
            },
            refer: crate::config::Refer {
                enabled: true,
                all: crate::config::Domains(vec!["a.example".into(), "b.example".into()]),
                publish: crate::config::Domains::default(),
                play: crate::config::Domains(vec!["cam.example".into()]),
            },
            http_remux: false,
            hls: crate::config::Hls {
                enabled: false,
                fragment_ms: 1_500,
                window_ms: 30_000,
                max_bytes: 1 << 20,
                storage: crate::config::HlsStorage::Disk,
                path: "/tmp/hls".into(),
                cleanup: false,
                dispose_s: 0,
                ctx: false,
                ts_ctx: true,
                nb_notify: 100,
            },
            exec: <crate::config::Exec as section::Section>::defaults(),
            transcode: <crate::config::Transcode as section::Section>::defaults(),
            dvr: crate::config::Dvr {
                enabled: false,
                apply: crate::config::DvrApply::Streams(vec![
                    "live/cam1".into(),
                    "live/cam2".into()
                ]),
                plan: crate::config::DvrPlan::Segment,
                duration_s: 2,
                fragment_s: 3,
                path: crate::config::DvrPath::parse(
                    "/mnt/usb/dvr/[app]/[stream]/[2006][01][02]-[15][04][05].flv"
                )
                .unwrap(),
                wait_keyframe: false,
                time_jitter: TimeJitter::Off,
                max_bytes: 8 << 30,
                min_free_bytes: 1 << 20,
                sync: crate::config::DvrSync::Interval(5),
                queue_bytes: 512 << 10,
                http_mount: "/recordings/".into(),
            },
            http_hooks: crate::config::HttpHooks {
                enabled: false,
                on_connect: urls(&[
                    "http://127.0.0.1:8085/api/v1/clients",
                    "http://localhost:8085/api/v1/clients"
                ]),
                on_close: urls(&["http://127.0.0.1:8085/api/v1/clients"]),
                on_publish: urls(&[
                    "http://127.0.0.1:8085/api/v1/streams",
                    "http://[::1]:8085/s?a=1"
                ]),
                on_unpublish: urls(&["http://127.0.0.1:8085/api/v1/streams"]),
                on_play: urls(&[]),
                on_stop: urls(&["http://10.0.0.2/api/v1/sessions"]),
                on_dvr: urls(&["http://10.0.0.2/api/v1/dvrs"]),
                on_hls: urls(&["http://10.0.0.2/api/v1/hls"]),
                on_hls_notify: urls(&["http://10.0.0.2/[app]/[ts_url][param]"]),
                timeout_s: 5,
            },
            forward: match cfg!(feature = "forward") {
                true => crate::config::Forward {
                    enabled: false,
                    destination: crate::config::Destinations(vec![
                        crate::config::Destination::parse("127.0.0.1:19350").unwrap(),
                        crate::config::Destination::parse("rtmp://10.0.0.3/up/cam?key=k").unwrap(),
                    ]),
                    queue_max_bytes: 1 << 20,
                    backend: crate::config::Backend(Some(
                        "http://127.0.0.1:8085/api/v1/forward".into(),
                    )),
                },
                // Without the feature the table is not read (`section::CompiledOut`).
                false => <crate::config::Forward as section::Section>::defaults(),
            },
            cluster: match cfg!(feature = "edge") {
                true => crate::config::Cluster {
                    mode: crate::config::ClusterMode::Remote,
                    origin: crate::config::Origins::default(),
                    token_traverse: true,
                    protocol: crate::config::ClusterProtocol::Flv,
                    pull_timeout_ms: 2_500,
                    origin_cluster: false,
                    coworkers: crate::config::Coworkers::default(),
                },
                false => <crate::config::Cluster as section::Section>::defaults(),
            },
        }
    );
}

#[cfg(all(feature = "hls", feature = "api", feature = "http-flv"))]
fn urls(list: &[&str]) -> crate::config::HookUrls {
    crate::config::HookUrls(list.iter().map(|s| s.to_string()).collect())
}

/// The router build has no resolver: hook URLs name an IP address or localhost.
#[cfg(not(feature = "dns"))]
#[test]
fn hook_urls_without_dns_take_addresses_only() {
    let (_, _, key, message) =
        fail("[vhost.__defaultVhost__.http_hooks]\non_play = \"http://hooks.lan:8085/p\"\n");
    assert_eq!(key, "vhost.__defaultVhost__.http_hooks.on_play");
    assert!(
        message.contains("host names need the full build"),
        "{message}"
    );
    parse(
        "[vhost.__defaultVhost__.http_hooks]\non_play = [\"http://localhost:8085/p\", \
         \"http://127.0.0.1/p\", \"http://[::1]:9/p\", \"http://LOCALHOST/\"]\n",
    );
}

#[test]
fn hook_urls_are_http_only_and_bounded() {
    let https = "[vhost.__defaultVhost__.http_hooks]\non_play = \"https://127.0.0.1/p\"\n";
    if cfg!(feature = "tls") {
        parse(https);
    } else {
        assert!(fail(https)
            .3
            .contains("needs the full build (Cargo feature tls)"));
    }
    for (text, wanted) in [
        (
            "on_play = [\"ftp://h/p\"]",
            "is not an http:// or https:// URL",
        ),
        ("on_play = \"http:///p\"", "has no host"),
        (
            "on_play = \"http://u:p@h/p\"",
            "has no host (or has credentials)",
        ),
        (
            "on_play = 3",
            "expected an http(s):// URL or a list of them",
        ),
        ("hooks_timeout = 0", "0"),
    ] {
        let (line, _, key, message) =
            fail(&format!("[vhost.__defaultVhost__.http_hooks]\n{text}\n"));
        assert_eq!(line, 2, "{text}");
        assert!(
            key.starts_with("vhost.__defaultVhost__.http_hooks."),
            "{key}"
        );
        assert!(message.contains(wanted), "{text}: {message}");
    }
    let nine = ["\"http://h/\""; 9].join(", ");
    let (_, _, _, message) = fail(&format!(
        "[vhost.__defaultVhost__.http_hooks]\non_play = [{nine}]\n"
    ));
    assert!(message.contains("more than 8 URLs"), "{message}");
}

#[test]
fn listen_forms() {
    for (text, addr) in [
        ("listen = 1935", "0.0.0.0:1935"),
        ("listen = \"19350\"", "0.0.0.0:19350"),
        ("listen = \"127.0.0.1:0\"", "127.0.0.1:0"),
        ("listen = \"[::]:1935\"", "[::]:1935"),
    ] {
        assert_eq!(parse(text).listen, addr.parse::<SocketAddr>().unwrap());
    }
    for (text, wanted) in [
        (
            "listen = 65536",
            "expected a port in 0..=65535, found 65536",
        ),
        ("listen = -1", "expected a port in 0..=65535, found -1"),
        ("listen = \"localhost:1935\"", "found \"localhost:1935\""),
        ("listen = \"+1935\"", "found \"+1935\""),
        ("listen = \"::1:1935\"", "found \"::1:1935\""),
        ("listen = true", "invalid type: boolean `true`"),
    ] {
        let (line, column, key, message) = fail(text);
        assert_eq!((line, column, key.as_str()), (1, 10, "listen"), "{text}");
        assert!(message.contains(wanted), "{text}: {message}");
    }
}

#[test]
fn queue_length_seconds() {
    for (value, ms) in [
        ("10", 10_000),
        ("0.5", 500),
        ("0.001", 1),
        ("3600", 3_600_000),
        ("3600.0", 3_600_000),
        ("1.0005", 1001),
    ] {
        let c = parse(&format!(
            "[vhost.__defaultVhost__.play]\nqueue_length = {value}\n"
        ));
        assert_eq!(c.default_vhost().queue_length_ms, ms, "{value}");
    }
    for value in [
        "0", "0.0", "-1", "-0.5", "0.0004", "3600.5", "3601", "nan", "inf", "-inf", "\"10\"",
    ] {
        let (line, column, key, message) = fail(&format!(
            "[vhost.__defaultVhost__.play]\nqueue_length = {value}\n"
        ));
        assert_eq!(
            (line, column, key.as_str()),
            (2, 16, "vhost.__defaultVhost__.play.queue_length"),
            "{value}: {message}"
        );
        assert!(
            message.contains("a number of seconds over 0 and at most 3600"),
            "{value}: {message}"
        );
    }
}

/// The value in `queue_length`'s message is std's `{}` of the float (written without std's
/// float formatting: `schema::float_text`), or of the integer.
#[test]
fn queue_length_shows_the_value_found() {
    for (value, found) in [
        ("3600.5", "3600.5"),
        ("3601", "3601"),
        ("36010.0", "36010"),
        ("-0.5", "-0.5"),
        ("-0.0", "-0"),
        ("0.0004", "0.0004"),
        ("1e5", "100000"),
        ("-12345678901234567890", "-12345678901234567890"),
        ("nan", "NaN"),
        ("-inf", "-inf"),
        ("1e-9", "1e-9"),
    ] {
        let (_, _, _, message) = fail(&format!(
            "[vhost.__defaultVhost__.play]\nqueue_length = {value}\n"
        ));
        assert!(
            message.ends_with(&format!(", found {found}")),
            "{value}: {message}"
        );
    }
    for (value, shown) in [
        ("2.5", "2.5"),
        ("-7.0", "-7.0"),
        ("1e2", "100.0"),
        ("inf", "inf"),
        ("1e300", "1e300"),
    ] {
        let message = fail_display(&format!("max_streams = {value}\n"));
        assert!(
            message.contains(&format!("invalid type: floating point `{shown}`, expected")),
            "{value}: {message}"
        );
    }
}

#[test]
fn out_of_range_values_name_key_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (table header or "", key, bad value, range in the message)
        ("", "max_connections", "0", "1..=1000000"),
        ("", "max_connections", "1000001", "1..=1000000"),
        ("", "max_streams", "0", "1..=65536"),
        ("", "max_streams", "65537", "1..=65536"),
        ("", "chunk_size", "127", "128..=65536"),
        ("", "chunk_size", "65537", "128..=65536"),
        ("", "handshake_timeout", "0", "1..=3600000"),
        ("", "idle_timeout", "3600001", "1..=3600000"),
        ("", "grace_period", "-1", "0..=3600000"),
        ("", "grace_period", "3600001", "0..=3600000"),
        ("play", "gop_cache_max_frames", "0", "1..=1000000"),
        ("play", "gop_cache_max_bytes", "0", "1..=4294967295"),
        (
            "play",
            "gop_cache_max_bytes",
            "4294967296",
            "1..=4294967295",
        ),
        ("play", "queue_max_bytes", "0", "1..=4294967295"),
        ("play", "mw_latency", "-1", "0..=10000"),
        ("play", "mw_latency", "10001", "0..=10000"),
        ("publish", "firstpkt_timeout", "0", "1..=3600000"),
        ("publish", "normal_timeout", "3600001", "1..=3600000"),
    ];
    for &(table, key, value, range) in cases {
        let (text, line, full_key) = if table.is_empty() {
            (format!("# comment\n\n{key} = {value}\n"), 3, key.to_owned())
        } else {
            (
                format!("[vhost.__defaultVhost__]\nenabled = true\n\n[vhost.__defaultVhost__.{table}]\n{key} = {value}\n"),
                5,
                format!("vhost.__defaultVhost__.{table}.{key}"),
            )
        };
        let shown = fail_display(&text);
        let column = key.len() + 4;
        assert_eq!(
            shown,
            format!(
                "t.toml:{line}:{column}: {full_key}: expected an integer in {range}, found {value}"
            )
        );
    }
}

#[test]
fn wrong_types_name_key_and_line() {
    let text = "listen = 1935\n[vhost.__defaultVhost__.play]\ngop_cache = \"yes\"\n";
    assert_eq!(
        fail_display(text),
        "t.toml:3:13: vhost.__defaultVhost__.play.gop_cache: invalid type: string \"yes\", \
         expected a boolean"
    );
    let text = "\nchunk_size = 1.5\n";
    assert_eq!(
        fail_display(text),
        "t.toml:2:14: chunk_size: invalid type: floating point `1.5`, expected an integer in \
         128..=65536"
    );
    let (line, _, key, message) = fail("\n\nvhost = 3\n");
    assert_eq!((line, key.as_str()), (3, "vhost"));
    assert!(message.contains("invalid type: integer `3`"), "{message}");
    let (line, _, key, _) = fail("[log]\nlevel = 3\n");
    assert_eq!((line, key.as_str()), (2, "log.level"));
}

#[test]
fn bad_enums_list_the_choices() {
    let text = "[vhost.__defaultVhost__]\nenabled = true\n[vhost.__defaultVhost__.play]\n\
                gop_cache = true\ntime_jitter = \"fast\"\n";
    assert_eq!(
        fail_display(text),
        "t.toml:5:15: vhost.__defaultVhost__.play.time_jitter: expected one of full, zero, off, \
         found \"fast\""
    );
    assert_eq!(
        fail_display("listen = 1935\n\n[log]\nlevel = \"INFO\"\n"),
        "t.toml:4:9: log.level: expected one of trace, debug, info, warn, error, off, found \
         \"INFO\""
    );
    let (line, _, key, _) = fail("[vhost.\"a.b\".play]\ntime_jitter = \"\"\n");
    assert_eq!((line, key.as_str()), (2, "vhost.\"a.b\".play.time_jitter"));
}

#[test]
fn unknown_keys_name_key_and_line() {
    let (line, column, key, message) = fail("listen = 1935\nlisten_port = 1\n");
    assert_eq!((line, column, key.as_str()), (2, 1, "listen_port"));
    assert!(
        message.starts_with("unknown field `listen_port`"),
        "{message}"
    );

    // Nested, under a header.
    let text = "[vhost.__defaultVhost__]\nenabled = true\n\n[vhost.__defaultVhost__.play]\n\
                gop_cache = true\n  queue_lenght = 10\n";
    let (line, column, key, message) = fail(text);
    assert_eq!(
        (line, column, key.as_str()),
        (6, 3, "vhost.__defaultVhost__.play.queue_lenght")
    );
    assert!(
        message.contains("unknown field `queue_lenght`"),
        "{message}"
    );
    assert!(
        message.contains("`queue_length`"),
        "lists the known keys: {message}"
    );

    // Nested, as a dotted key in a named vhost.
    let text = "\n[vhost.\"cam.example.com\"]\nenabled = true\nsecurity.allow = 1\n";
    let (line, column, key, _) = fail(text);
    assert_eq!(
        (line, column, key.as_str()),
        (4, 10, "vhost.\"cam.example.com\".security.allow")
    );

    // An unknown table (an SRS section we do not have).
    let (line, _, key, message) = fail("[vhost.__defaultVhost__.ingest]\nenabled = true\n");
    assert_eq!((line, key.as_str()), (1, "vhost.__defaultVhost__.ingest"));
    assert!(message.contains("unknown field `ingest`"), "{message}");

    let (line, _, key, _) = fail("[log]\nlevel = \"info\"\nfile = \"x\"\n");
    assert_eq!((line, key.as_str()), (3, "log.file"));
}

#[test]
fn syntax_errors_give_the_line() {
    let (line, _, _, _) = fail("listen = 1935\nchunk_size = \n");
    assert_eq!(line, 2);
    let (line, _, _, message) = fail("listen = 1935\n\n[vhost.a]\n[vhost.a]\n");
    assert_eq!(line, 4);
    assert!(message.contains("duplicate"), "{message}");
    let (line, _, _, _) = fail("a = \"unterminated\n");
    assert_eq!(line, 1);
    let (line, _, _, _) = fail("[log\nlevel = \"info\"\n");
    assert_eq!(line, 1);
    // The message is one line even when toml's has several.
    let shown = fail_display("x = [1,\n");
    assert!(!shown.contains('\n'), "{shown}");
}

#[test]
fn bad_rules_name_the_rule_and_its_line() {
    let text = "[vhost.__defaultVhost__.security]\nenabled = true\nrules = [\n  \
                \"allow play all\",\n  \"deny play 10.0.0.0/33\",\n]\n";
    assert_eq!(
        fail_display(text),
        "t.toml:5:3: vhost.__defaultVhost__.security.rules[1]: bad rule \"deny play \
         10.0.0.0/33\": prefix length in \"10.0.0.0/33\" must be 0..=32 for IPv4"
    );
    for (rule, wanted) in [
        ("allow play", "expected 3 words"),
        ("allow watch all", "expected publish or play"),
        ("permit play all", "expected allow or deny"),
        (
            "allow play 300.1.1.1",
            "expected all, an IP address or a CIDR network",
        ),
        ("allow play ::/129", "must be 0..=128 for IPv6"),
    ] {
        let text = format!("[vhost.\"cam.example.com\".security]\n\nrules = [\"{rule}\"]\n");
        let (line, column, key, message) = fail(&text);
        assert_eq!(
            (line, column, key.as_str()),
            (3, 10, "vhost.\"cam.example.com\".security.rules[0]"),
            "{rule}"
        );
        assert!(
            message.starts_with(&format!("bad rule {rule:?}: ")),
            "{message}"
        );
        assert!(message.contains(wanted), "{rule}: {message}");
    }
    // A non-string element.
    let (line, column, key, message) =
        fail("[vhost.a.security]\nrules = [\"allow play all\", 1]\n");
    assert_eq!(
        (line, column, key.as_str()),
        (2, 28, "vhost.a.security.rules[1]")
    );
    assert!(message.contains("invalid type: integer `1`"), "{message}");
}

#[test]
fn rules_are_parsed_at_load() {
    let c = parse(
        "[vhost.__defaultVhost__.security]\nenabled = true\nrules = [\"allow publish \
         ::1\", \"allow play 192.168.0.0/16\", \"deny play 192.168.7.0/24\"]\n",
    );
    let s = &c.default_vhost().security;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(s.allows(Method::Publish, ip("::1")));
    assert!(!s.allows(Method::Publish, ip("127.0.0.1")));
    assert!(s.allows(Method::Play, ip("192.168.1.1")));
    assert!(!s.allows(Method::Play, ip("192.168.7.1")));
    assert!(!s.allows(Method::Play, ip("10.0.0.1")));
}

#[test]
fn vhost_names_are_checked() {
    let (line, column, key, message) = fail("listen = 1\n[vhost.\"bad name\"]\n");
    assert_eq!((line, column, key.as_str()), (2, 8, "vhost.\"bad name\""));
    assert!(message.contains("found \"bad name\""), "{message}");
    let (line, _, key, _) = fail("[vhost.\"\"]\n");
    assert_eq!((line, key.as_str()), (1, "vhost.\"\""));
    let long = "a".repeat(254);
    let (line, _, _, _) = fail(&format!("\n[vhost.{long}]\n"));
    assert_eq!(line, 2);
    assert!(Config::from_toml_str(&format!("[vhost.{}]\n", "a".repeat(253)), "t").is_ok());
}

#[test]
fn vhost_names_differing_in_case_are_one_vhost() {
    let text = "[vhost.\"Cam.example.com\"]\nenabled = true\n\n[vhost.\"cam.EXAMPLE.com\"]\n";
    assert_eq!(
        fail_display(text),
        "t.toml:4:8: vhost.\"cam.EXAMPLE.com\": same vhost as \"Cam.example.com\" (vhost names \
         are case-insensitive)"
    );
    let text = "[vhost.__defaultVhost__]\n[vhost.__DEFAULTVHOST__]\n";
    let (line, _, key, _) = fail(text);
    assert_eq!((line, key.as_str()), (2, "vhost.__DEFAULTVHOST__"));
    // Any case of the default vhost's name configures the default vhost.
    let c = parse("[vhost.__defaultvhost__]\nmin_latency = true\n");
    assert!(c.default_vhost().min_latency);
    assert_eq!(c.vhosts().count(), 1);
}

#[test]
fn named_vhosts_start_from_the_embedded_defaults() {
    let c = parse(
        "[vhost.__defaultVhost__]\nmin_latency = true\n[vhost.__defaultVhost__.play]\n\
         queue_length = 2\n[vhost.\"Cam.Example.com\".play]\ngop_cache = false\n",
    );
    let cam = c.vhost("cam.example.com").unwrap();
    let mut expected = Vhost::embedded("cam.example.com".into());
    expected.gop_cache = false;
    assert_eq!(
        cam, &expected,
        "not the default vhost's min_latency/queue_length"
    );
    assert_eq!(c.default_vhost().queue_length_ms, 2000);
}

#[test]
fn vhost_lookup_and_resolve() {
    let c = parse(
        "[vhost.\"Cam.example.com\"]\n[vhost.\"off.example.com\"]\nenabled = false\n\
         [vhost.\"10.0.0.5\"]\n",
    );
    let name = |v: Option<&Vhost>| v.map(|v| v.name.clone());
    // Exact lookup, case-insensitive.
    assert_eq!(
        name(c.vhost("cam.example.com")),
        Some("cam.example.com".into())
    );
    assert_eq!(
        name(c.vhost("CAM.EXAMPLE.COM")),
        Some("cam.example.com".into())
    );
    assert_eq!(name(c.vhost("10.0.0.5")), Some("10.0.0.5".into()));
    assert_eq!(
        name(c.vhost("__DEFAULTVHOST__")),
        Some(DEFAULT_VHOST.into())
    );
    assert_eq!(name(c.vhost("other.example.com")), None);
    assert_eq!(name(c.vhost("off.example.com")), None, "disabled");
    assert_eq!(name(c.vhost("")), None);
    // Resolve: configured, else the default vhost; a disabled named vhost does not fall back.
    assert_eq!(
        name(c.resolve_vhost("CAM.example.com")),
        Some("cam.example.com".into())
    );
    assert_eq!(
        name(c.resolve_vhost("other.example.com")),
        Some(DEFAULT_VHOST.into())
    );
    assert_eq!(name(c.resolve_vhost("")), Some(DEFAULT_VHOST.into()));
    assert_eq!(
        name(c.resolve_vhost("cam.example.com.")),
        Some(DEFAULT_VHOST.into())
    );
    assert_eq!(name(c.resolve_vhost("OFF.example.com")), None);
    // All vhosts, default first, then by name, disabled included.
    let names: Vec<&str> = c.vhosts().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            DEFAULT_VHOST,
            "10.0.0.5",
            "cam.example.com",
            "off.example.com"
        ]
    );

    let c = parse("[vhost.__defaultVhost__]\nenabled = false\n[vhost.a]\n");
    assert_eq!(name(c.resolve_vhost("A")), Some("a".into()));
    assert_eq!(name(c.resolve_vhost("b")), None, "default vhost disabled");
    assert_eq!(name(c.vhost(DEFAULT_VHOST)), None);
    assert!(!c.default_vhost().enabled);
}

#[test]
fn diff_lists_changes_in_file_terms() {
    let old = parse("[vhost.a]\n[vhost.\"b.example.com\"]\n");
    let new = parse(
        "listen = 1936\nchunk_size = 4096\n[log]\nlevel = \"debug\"\n\
         [vhost.__defaultVhost__.play]\nqueue_length = 0.5\ntime_jitter = \"off\"\n\
         [vhost.__defaultVhost__.security]\nenabled = true\nrules = [\"allow play all\", \
         \"deny play 10.1.0.0/16\"]\n[vhost.\"b.example.com\"]\nenabled = false\n\
         [vhost.\"c.example.com\"]\n",
    );
    assert_eq!(
        old.diff(&new),
        [
            "listen: 0.0.0.0:1935 -> 0.0.0.0:1936 (needs a restart to apply)",
            "chunk_size: 60000 -> 4096",
            "log.level: info -> debug",
            "vhost.__defaultVhost__.play.queue_length: 10 -> 0.5",
            "vhost.__defaultVhost__.play.time_jitter: full -> off",
            "vhost.__defaultVhost__.security.enabled: false -> true",
            "vhost.__defaultVhost__.security.rules: [] -> [\"allow play all\", \"deny play \
             10.1.0.0/16\"]",
            "vhost.a: removed",
            "vhost.\"b.example.com\".enabled: true -> false",
            "vhost.\"c.example.com\": added",
        ]
    );
    assert!(new.diff(&new).is_empty());
    // The shipped example (written for the small/full builds) differs only in its rules.
    #[cfg(all(feature = "hls", feature = "api", feature = "http-flv"))]
    assert!(Config::embedded().diff(&parse(EXAMPLE)).len() == 1);
}

#[test]
fn diff_sees_every_field() {
    let base = Config::embedded();
    let changes: Vec<fn(&mut Config)> = vec![
        |c| c.listen = "127.0.0.1:1".parse().unwrap(),
        |c| c.max_connections += 1,
        |c| c.chunk_size += 1,
        |c| c.handshake_timeout_ms += 1,
        |c| c.idle_timeout_ms += 1,
        |c| c.grace_period_ms += 1,
        |c| c.log_level = log::LevelFilter::Trace,
        |c| c.rtmp_max_message_bytes += 1,
        |c| c.rtmp_max_pending_bytes += 1,
        |c| c.http.max_body_bytes += 1,
        |c| c.gb28181.max_pes_bytes += 1,
        |c| c.gb28181.max_frame_bytes += 1,
        |c| c.gb28181.max_reorder_bytes += 1,
        |c| c.default_vhost.enabled = false,
        |c| c.default_vhost.min_latency = true,
        |c| c.default_vhost.tcp_nodelay = true,
        |c| c.default_vhost.gop_cache = false,
        |c| c.default_vhost.gop_cache_max_frames += 1,
        |c| c.default_vhost.gop_cache_max_bytes += 1,
        |c| c.default_vhost.queue_length_ms += 1,
        |c| c.default_vhost.queue_max_bytes += 1,
        |c| c.default_vhost.mw_latency_ms += 1,
        |c| c.default_vhost.time_jitter = TimeJitter::Zero,
        |c| c.default_vhost.firstpkt_timeout_ms += 1,
        |c| c.default_vhost.normal_timeout_ms += 1,
        |c| c.default_vhost.security.enabled = true,
        |c| c.default_vhost.security.rules = vec!["allow play all".parse().unwrap()],
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut new = base.clone();
        change(&mut new);
        assert_ne!(new, base);
        assert_eq!(
            base.diff(&new).len(),
            1,
            "change {i}: {:?}",
            base.diff(&new)
        );
    }
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("tinysrs-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let good = dir.join("good.toml");
    std::fs::write(&good, "chunk_size = 4096\n").unwrap();
    assert_eq!(Config::load(&good).unwrap().chunk_size, 4096);

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "\nchunk_size = 1\n").unwrap();
    let shown = Config::load(&bad).unwrap_err().to_string();
    assert_eq!(
        shown,
        format!(
            "{}:2:14: chunk_size: expected an integer in 128..=65536, found 1",
            bad.display()
        )
    );

    // The API password from a file of its own: its first line.
    let secret = dir.join("api-password");
    std::fs::write(&secret, "s3cret\nignored\n").unwrap();
    let with_file = dir.join("with-file.toml");
    let auth = format!(
        "[http_api.auth]\nenabled = true\nusername = \"admin\"\npassword_file = {:?}\n",
        secret.display().to_string()
    );
    std::fs::write(&with_file, &auth).unwrap();
    let loaded = Config::load(&with_file).unwrap().api.auth.unwrap();
    assert_eq!(loaded.password.as_deref(), Some("s3cret"));
    std::fs::write(&secret, "\n").unwrap();
    let err = Config::load(&with_file).unwrap_err().to_string();
    assert!(err.contains("an empty password"), "{err}");
    std::fs::write(&secret, "x".repeat(300)).unwrap();
    let err = Config::load(&with_file).unwrap_err().to_string();
    assert!(err.contains("larger than 256 bytes"), "{err}");
    std::fs::remove_file(&secret).unwrap();
    let err = Config::load(&with_file).unwrap_err().to_string();
    assert!(err.contains("api-password: cannot read"), "{err}");
    // Over a shipped `password`, the file wins; an empty file name means none.
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::write(&with_file, format!("{auth}password = \"admin\"\n")).unwrap();
    let loaded = Config::load(&with_file).unwrap().api.auth.unwrap();
    assert_eq!(loaded.password.as_deref(), Some("s3cret"));
    let no_file = "[http_api.auth]\nusername = \"a\"\npassword = \"b\"\npassword_file = \"\"\n";
    let auth = Config::from_toml_str(no_file, "t")
        .unwrap()
        .api
        .auth
        .unwrap();
    assert_eq!(
        (auth.password.as_deref(), auth.password_file),
        (Some("b"), None)
    );

    let missing = dir.join("missing.toml");
    let err = Config::load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with(&format!("{}: cannot read: ", missing.display())));

    let binary = dir.join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, b'\n']).unwrap();
    assert!(matches!(Config::load(&binary), Err(ConfigError::Io { .. })));

    let huge = dir.join("huge.toml");
    let mut text = "# padding\n".repeat((MAX_CONFIG_BYTES as usize) / 10);
    text.push_str("# over\n");
    std::fs::write(&huge, text).unwrap();
    assert!(matches!(
        Config::load(&huge),
        Err(ConfigError::TooLarge { .. })
    ));

    std::fs::remove_dir_all(&dir).unwrap();
}

use crate::testutil::XorShift as Rng;

#[test]
fn fuzz_mutated_example_never_panics() {
    const INTERESTING: &[u8] = b"[]{}.,=\"'#\n\r\t 0123456789-+_e:/xZ\\\xc3\xa9\xff";
    let mut rng = Rng(0x7165_6e73_7273_2121);
    let seed = EXAMPLE.as_bytes();
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(6) {
                0 => bytes[at] = INTERESTING[rng.below(INTERESTING.len())],
                1 => bytes.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                2 => {
                    let end = (at + rng.below(40)).min(bytes.len());
                    bytes.drain(at..end);
                }
                3 => {
                    let end = (at + rng.below(80)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    let to = rng.below(bytes.len());
                    bytes.splice(to..to, copy);
                }
                4 => bytes[at] = bytes[at].wrapping_add(1),
                _ => bytes.truncate(at),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        match Config::from_toml_str(&text, "fuzz.toml") {
            Ok(config) => {
                accepted += 1;
                let _ = Config::embedded().diff(&config);
            }
            Err(err) => {
                refused += 1;
                if let ConfigError::Parse { line, .. } = &err {
                    assert!(*line <= text.lines().count() + 1, "{err}");
                }
                let shown = err.to_string();
                assert!(!shown.contains('\n'), "{shown}");
            }
        }
    }
    assert!(accepted > 100 && refused > 100, "{accepted} / {refused}");
}

/// A build without HLS refuses `hls.enabled = true` at its line, naming the feature, and
/// takes HLS as off by default. (`ci/test` runs the unit tests once without HLS.)
#[cfg(not(feature = "hls"))]
#[test]
fn a_compiled_out_protocol_is_refused_naming_the_feature() {
    assert!(!Config::embedded().default_vhost().hls.enabled);
    let text = "max_connections = 5\n[vhost.__defaultVhost__.hls]\nenabled = true\n";
    let err = Config::from_toml_str(text, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("t.toml:3:"), "{err}");
    assert!(
        err.contains("hls.enabled") && err.contains("feature hls"),
        "{err}"
    );
    // Saying it is off is fine.
    let ok = "[vhost.__defaultVhost__.hls]\nenabled = false\n";
    assert!(Config::from_toml_str(ok, "t.toml").is_ok());
}

/// A build with every feature takes every protocol as on by default.
#[cfg(all(feature = "hls", feature = "api", feature = "http-flv"))]
#[test]
fn compiled_in_protocols_are_on_by_default() {
    let c = Config::embedded();
    assert!(c.http.enabled && c.api.enabled);
    assert!(c.default_vhost().hls.enabled && c.default_vhost().http_remux);
}

#[test]
fn gb28181_settings_are_read_and_checked() {
    let c = parse(
        "[gb28181]\nserver_id = \"44010000002000000099\"\npassword = \"pw\"\n\
         transport = \"udp\"\nstream_name = \"device\"\nrtp_port_min = 40000\nrtp_port_max = 40010\n\
         [gb28181.passwords]\n\"44010000001320000001\" = \"cam1\"\n",
    );
    let g = &c.gb28181;
    assert_eq!(
        (g.server_id.as_str(), g.domain.as_str()),
        ("44010000002000000099", "4401000000")
    );
    assert_eq!(g.transport, crate::config::GbTransport::Udp);
    assert_eq!(g.stream_name, crate::config::GbStreamName::Device);
    assert_eq!(g.rtp_ports, (40000, 40010));
    assert_eq!(
        g.passwords.get("44010000001320000001").map(String::as_str),
        Some("cam1")
    );
    let (line, _, key, message) = fail("[gb28181]\nserver_id = \"123\"\n");
    assert_eq!((line, key.as_str()), (2, "gb28181.server_id"));
    assert!(message.contains("20 digits"), "{message}");
    let (line, _, key, _) = fail("[gb28181]\nrtp_port_max = 2000\nrtp_port_min = 3000\n");
    assert_eq!((line, key.as_str()), (3, "gb28181.rtp_port_min"));
}

/// Issue 17 item 14: `invite` and `on_demand_grace`, their defaults, and the refusals.
#[test]
fn gb28181_on_demand_keys_are_read_and_checked() {
    use crate::config::GbInvite;
    let d = Config::embedded();
    assert_eq!(
        (d.gb28181.invite, d.gb28181.on_demand_grace_s),
        (GbInvite::Always, 10)
    );
    let c = parse("[gb28181]\ninvite = \"on_demand\"\non_demand_grace = 0\n");
    assert_eq!(
        (c.gb28181.invite, c.gb28181.on_demand_grace_s),
        (GbInvite::OnDemand, 0)
    );
    let (line, _, key, message) = fail("[gb28181]\ninvite = \"lazy\"\n");
    assert_eq!((line, key.as_str()), (2, "gb28181.invite"));
    assert!(
        message.contains("expected one of always, on_demand"),
        "{message}"
    );
    let (line, _, key, message) = fail("[gb28181]\non_demand_grace = 3601\n");
    assert_eq!((line, key.as_str()), (2, "gb28181.on_demand_grace"));
    assert!(message.contains("3600"), "{message}");
    // on_demand invites by itself: auto_invite = false (API only) contradicts it, wherever
    // either is written.
    for text in [
        "[gb28181]\nauto_invite = false\ninvite = \"on_demand\"\n",
        "[gb28181]\ninvite = \"on_demand\"\nauto_invite = false\n",
    ] {
        let (_, _, key, message) = fail(text);
        assert_eq!(key, "gb28181.invite", "{text}");
        assert!(message.contains("auto_invite = false"), "{message}");
    }
    assert!(
        Config::from_toml_str("[gb28181]\nauto_invite = false\ninvite = \"always\"\n", "t").is_ok()
    );
}

/// The caps on what one peer may make us hold: the shipped defaults, keys read, and values
/// out of range refused naming the key and line.
#[test]
fn per_item_caps_are_keys() {
    let d = Config::embedded();
    assert_eq!(
        (d.rtmp_max_message_bytes, d.rtmp_max_pending_bytes),
        (4 << 20, 6 << 20)
    );
    assert_eq!(d.http.max_body_bytes, 64 << 10);
    let g = &d.gb28181;
    assert_eq!(
        (g.max_pes_bytes, g.max_frame_bytes, g.max_reorder_bytes),
        (2 << 20, 4 << 20, 2 << 20)
    );
    let c = parse(
        "[gb28181]\nmax_pes_bytes = 524288\nmax_frame_bytes = 1048576\n\
         max_reorder_bytes = 262144\n",
    );
    let g = &c.gb28181;
    assert_eq!(
        (g.max_pes_bytes, g.max_frame_bytes, g.max_reorder_bytes),
        (512 << 10, 1 << 20, 256 << 10)
    );
    for (text, line, key) in [
        (
            "[rtmp]\nmax_message_bytes = 16777216\n",
            2,
            "rtmp.max_message_bytes",
        ),
        (
            "[rtmp]\n\nmax_pending_bytes = 1000\n",
            3,
            "rtmp.max_pending_bytes",
        ),
        (
            "[http_server]\nmax_body_bytes = -1\n",
            2,
            "http_server.max_body_bytes",
        ),
        (
            "[gb28181]\nmax_pes_bytes = 65535\n",
            2,
            "gb28181.max_pes_bytes",
        ),
        (
            "[gb28181]\nmax_frame_bytes = 0\n",
            2,
            "gb28181.max_frame_bytes",
        ),
        (
            "[gb28181]\nmax_reorder_bytes = 65536\n",
            2,
            "gb28181.max_reorder_bytes",
        ),
    ] {
        let (at, _, k, message) = fail(text);
        assert_eq!((at, k.as_str()), (line, key), "{text}");
        assert!(message.contains("expected an integer in"), "{message}");
    }
}

// The shipped example turns on every protocol of the `full` set (uncommented, its
// `[[ingest]]` needs `rtsp`).
#[cfg(all(
    feature = "hls",
    feature = "api",
    feature = "http-flv",
    feature = "gb28181",
    feature = "dvr",
    feature = "rtsp"
))]
mod shipped_example {
    use super::*;

    /// The shipped example with its commented-out keys switched on: a line `#key = value` or
    /// `#[table]` (no space after `#`; prose comments have one) loses its `#`.
    fn example_uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with(|c: char| c == '[' || c == '"' || c.is_alphabetic()) =>
                {
                    rest
                }
                _ => line,
            })
            .fold(String::new(), |text, line| text + line + "\n")
    }

    /// Every `key = value` line of `text`: (line index, dotted path as diff writes it, value text).
    fn assignments(text: &str) -> Vec<(usize, String, String)> {
        let mut table = String::new();
        let mut found = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            // `[table]`, or `[[ingest]]`, an array of tables whose keys are listed as `ingest.KEY`.
            if let Some(header) = line.strip_prefix('[') {
                table = String::new();
                let header = header.trim_start_matches('[').trim_end_matches(']');
                for part in split_dotted(header) {
                    error::push_key(&mut table, &part);
                }
                continue;
            }
            let (key, value) = line.split_once(" = ").expect("key = value");
            let mut path = table.clone();
            error::push_key(&mut path, key.trim_matches('"'));
            found.push((i, path, value.to_owned()));
        }
        found
    }

    /// `vhost."cam.example.com".play` → ["vhost", "cam.example.com", "play"].
    fn split_dotted(header: &str) -> Vec<String> {
        let mut parts = Vec::new();
        let mut part = String::new();
        let mut quoted = false;
        for c in header.chars() {
            match c {
                '"' => quoted = !quoted,
                '.' if !quoted => parts.push(std::mem::take(&mut part)),
                c => part.push(c),
            }
        }
        parts.push(part);
        parts
    }

    /// A key as the definition lists it: a vhost's keys under `vhost.*`.
    fn defined_form(path: &str) -> String {
        match path.strip_prefix("vhost.") {
            Some(rest) => {
                let parts = split_dotted(rest);
                let mut key = String::from("vhost.*");
                for part in &parts[1..] {
                    error::push_key(&mut key, part);
                }
                key
            }
            None => path.to_owned(),
        }
    }

    #[test]
    fn every_defined_key_is_in_the_shipped_example() {
        use section::Section;
        let mut defined = Vec::new();
        Config::file_keys("", &mut defined);
        // `vhost` is the table of vhosts; each holds the vhost keys. `ingest` is the array of
        // `[[ingest]]` tables; each holds the ingest keys.
        defined.retain(|key| key != "vhost" && key != "ingest");
        Vhost::file_keys("vhost.*", &mut defined);
        crate::config::Ingest::file_keys("ingest", &mut defined);

        let text = example_uncommented();
        parse(&text);
        let written: Vec<String> = assignments(&text)
            .into_iter()
            .map(|(_, path, _)| defined_form(&path))
            .collect();
        for key in &defined {
            let prefix = format!("{key}.");
            assert!(
                written.iter().any(|w| w == key || w.starts_with(&prefix)),
                "{key} is defined but not in rootfs/common/etc/tinysrs/tinysrs.toml"
            );
        }
        // And the file writes nothing the definition lacks (tables such as `http_api.auth` and
        // `gb28181.passwords` are defined as one key).
        for key in &written {
            assert!(
                defined
                    .iter()
                    .any(|d| d == key || key.starts_with(&format!("{d}."))),
                "{key} is in the shipped example but not defined"
            );
        }
    }

    #[test]
    fn diff_reports_every_key_the_shipped_example_sets() {
        let text = example_uncommented();
        let base = parse(&text);
        // The keys read once at start (pinned here, not derived from the definition under test).
        let restart = |key: &str| {
            [
                "listen",
                "user",
                "http_server.enabled",
                "http_server.listen",
                "http_api.listen",
                "exporter.listen",
                "rtsp_server.enabled",
                "rtsp_server.listen",
                "rtc_server.enabled",
                "rtc_server.listen",
                "rtc_server.tcp",
                "heartbeat.interval",
                "heartbeat.url",
                "rtmps.enabled",
                "rtmps.listen",
                "rtmps.key",
                "rtmps.cert",
                "http_server.https.enabled",
                "http_server.https.listen",
                "http_server.https.key",
                "http_server.https.cert",
                "tls.verify",
                "tls.ca_file",
                "gb28181.invite",
                "gb28181.on_demand_grace",
                "ingest",
            ]
            .contains(&key)
        };
        let mut checked = 0;
        // Values that are valid for some keys; the first that parses and changes the key is used.
        let words = [
            "\"127.0.0.1:1\"",
            "\"off\"",
            "\"zero\"",
            "\"disk\"",
            "\"udp\"",
            "\"device\"",
            "\"on_demand\"",
            "\"remote\"",
            "\"flv\"",
            "\"34020000002000000002\"",
            "\"segment\"",
            "\"none\"",
            "\"live/cam\"",
            "\"/rec/\"",
            "\"rtsp://127.0.0.1:8554/cam\"",
        ];
        let lines: Vec<&str> = text.lines().collect();
        for (i, path, value) in assignments(&text) {
            // Logged as their count only.
            if path.starts_with("gb28181.passwords.") {
                continue;
            }
            // A pair checked together (`rtsp_server_rtp_ports_are_pairs`): one edit alone
            // is refused.
            if path.starts_with("rtsp_server.rtp_port_") {
                continue;
            }
            // Inert while `http_api.auth.enabled` is false (as shipped).
            if path.starts_with("http_api.auth.") && path != "http_api.auth.enabled" {
                continue;
            }
            let candidates: Vec<String> = match value.as_str() {
                "true" => vec!["false".into()],
                "false" => vec!["true".into()],
                v if v.starts_with('[') => vec![
                    "[]".into(),
                    "[\"http://127.0.0.1:1/\"]".into(),
                    "[\"example.com\"]".into(),
                    "[\"127.0.0.1:1\"]".into(),
                ],
                v if v.starts_with('"') => words.iter().map(|w| w.to_string()).collect(),
                v => match v.parse::<i64>() {
                    Ok(n) => vec![(n + 1).to_string()],
                    Err(_) => vec![format!("{}", v.parse::<f64>().unwrap() + 1.0)],
                },
            };
            let changed = candidates
                .iter()
                .filter(|candidate| **candidate != value)
                .find_map(|candidate| {
                    let mut edited = lines.clone();
                    let line = format!("{} = {candidate}", lines[i].split_once(" = ").unwrap().0);
                    edited[i] = &line;
                    Config::from_toml_str(&edited.join("\n"), "t.toml")
                        .ok()
                        .filter(|c| *c != base)
                })
                .unwrap_or_else(|| panic!("{path}: no edit changes the config"));
            let shown = match path.as_str() {
                "gb28181.rtp_port_min" | "gb28181.rtp_port_max" => "gb28181.rtp_ports",
                "http_api.auth.enabled" => "http_api.auth",
                "rtc_server.tcp.enabled" => "rtc_server.tcp",
                // The `[[ingest]]` entries are one value in the reload log.
                "ingest.command" | "ingest.shell" => "ingest_command",
                p if p.starts_with("ingest.") => "ingest",
                p => p,
            };
            let diff = base.diff(&changed);
            assert_eq!(diff.len(), 1, "{path}: {diff:?}");
            assert!(
                diff[0].starts_with(&format!("{shown}: ")),
                "{path}: {diff:?}"
            );
            assert_eq!(
                diff[0].ends_with(" (needs a restart to apply)"),
                restart(shown),
                "{path}: {diff:?}"
            );
            checked += 1;
        }
        assert!(checked > 50, "only {checked} keys checked");
    }
}

#[test]
fn values_of_other_kinds_are_named() {
    // A datetime is named as one; an array is not read as a table.
    assert_eq!(
        fail_display("[vhost.a.play]\ngop_cache = 1979-05-27\n"),
        "t.toml:2:13: vhost.a.play.gop_cache: invalid type: datetime `1979-05-27`, expected a \
         boolean"
    );
    assert_eq!(
        fail_display("log = [\"info\"]\n"),
        "t.toml:1:7: log: invalid type: sequence, expected a table of log settings"
    );
    // Integers beyond 64 bits are shown as written.
    assert_eq!(
        fail_display("chunk_size = 99999999999999999999\n"),
        "t.toml:1:14: chunk_size: expected an integer in 128..=65536, found 99999999999999999999"
    );
    assert_eq!(
        fail_display("listen = 9223372036854775808\n"),
        "t.toml:1:10: listen: expected a port in 0..=65535, found 9223372036854775808"
    );
    assert_eq!(
        fail_display("max_streams = 1e3\n"),
        "t.toml:1:15: max_streams: invalid type: floating point `1000.0`, expected an integer \
         in 1..=65536"
    );
    let (line, column, key, message) = fail("[http_api.auth]\nuser = \"a\"\n");
    assert_eq!((line, column, key.as_str()), (2, 1, "http_api.auth.user"));
    assert_eq!(
        message,
        "unknown field `user`, expected one of `enabled`, `username`, `password`, `password_file`, `read_only_open`"
    );
    // Auth switched on without a user name is refused, not an open API.
    let (line, _, key, message) = fail("[http_api.auth]\nenabled = true\npassword = \"p\"\n");
    assert_eq!((line, key.as_str()), (1, "http_api.auth"));
    assert!(message.contains("needs a username"), "{message}");
}

#[cfg(feature = "rtsp")]
#[test]
fn ingest_entries_are_read_and_checked() {
    use crate::config::IngestMode;
    assert!(Config::embedded().ingests.is_empty());
    let c = parse(
        "[[ingest]]\nurl = \"rtsp://admin:pw@10.0.0.2/s1\"\nstream = \"live/door\"\n\
         [[ingest]]\nurl = \"rtsp://10.0.0.3:8554/s\"\nstream = \"live/yard\"\n\
         mode = \"on_demand\"\non_demand_close_after = 3\n",
    );
    assert_eq!(c.ingests.len(), 2);
    let (a, b) = (&c.ingests[0], &c.ingests[1]);
    assert_eq!((a.app(), a.stream_name()), ("live", "door"));
    assert_eq!(
        (a.mode, a.on_demand_close_after_s),
        (IngestMode::Always, 10)
    );
    assert_eq!(a.vhost, crate::config::DEFAULT_VHOST);
    assert_eq!(
        (b.mode, b.on_demand_close_after_s),
        (IngestMode::OnDemand, 3)
    );
    // The reload log: one line, the password hidden, marked as needing a restart.
    let diff = Config::embedded().diff(&c);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].starts_with("ingest: [] -> ["), "{diff:?}");
    assert!(
        diff[0].contains("admin:***@") && !diff[0].contains("pw"),
        "{diff:?}"
    );
    assert!(diff[0].ends_with("(needs a restart to apply)"), "{diff:?}");

    let (line, _, key, message) = fail("[[ingest]]\nurl = \"http://x/y\"\nstream = \"a/b\"\n");
    assert_eq!((line, key.as_str()), (2, "ingest[0].url"), "{message}");
    let (line, _, key, message) = fail("[[ingest]]\nurl = \"rtsp://x/y\"\nstream = \"ab\"\n");
    assert_eq!((line, key.as_str()), (3, "ingest[0].stream"), "{message}");
    let (_, _, key, message) = fail("[[ingest]]\nstream = \"a/b\"\n");
    assert_eq!(key, "ingest[0].url");
    assert!(message.contains("required"), "{message}");
    let (_, _, key, message) = fail(
        "[[ingest]]\nurl = \"rtsp://x/y\"\nstream = \"a/b\"\n\
         [[ingest]]\nurl = \"rtsp://x/z\"\nstream = \"a/b\"\n",
    );
    assert_eq!(key, "ingest[1].stream");
    assert!(message.contains("already published"), "{message}");
    // A child process instead of a pull: url and command exclude each other.
    let c = Config::from_toml_str(
        "[[ingest]]\ncommand = \"ffmpeg -i x -f flv rtmp://127.0.0.1:[port]/[app]/[stream]\"\n\
         stream = \"live/x\"\n",
        "t",
    )
    .unwrap();
    assert!(c.ingests.is_empty());
    assert_eq!(c.child_ingests[0].command.0.len(), 6);
    assert_eq!(c.child_ingests[0].stream_name(), "x");
    let (_, _, key, message) =
        fail("[[ingest]]\nurl = \"rtsp://x/y\"\ncommand = [\"ffmpeg\"]\nstream = \"a/b\"\n");
    assert_eq!(key, "ingest[0].command");
    assert!(message.contains("not both"), "{message}");
    let (_, _, key, _) = fail("[[ingest]]\ncommand = \"sleep 1\"\nmode = \"on_demand\"\n");
    assert_eq!(key, "ingest[0].mode");
    let (line, _, _, message) =
        fail("[[ingest]]\nurl = \"rtsp://x/y\"\nstream = \"a/b\"\nmode = \"sometimes\"\n");
    assert_eq!(line, 4);
    assert!(message.contains("always, on_demand"), "{message}");
}

/// `rtsps://` pulls over TLS with the feature `tls` (refused naming it without), over TCP only:
/// `transport = "udp"` is refused, `auto` is taken (and means TCP).
#[test]
#[cfg(feature = "rtsp")]
fn rtsps_ingest_needs_tls_and_tcp() {
    let text = "[[ingest]]\nurl = \"rtsps://u:pw@10.0.0.2:7441/cam\"\nstream = \"live/a\"\n";
    if cfg!(feature = "tls") {
        let c = parse(text);
        assert!(c.ingests[0].tls());
        assert!(parse(&format!("{text}transport = \"auto\"\n")).ingests[0].tls());
        let (line, _, key, message) = fail(&format!("{text}transport = \"udp\"\n"));
        assert_eq!(
            (line, key.as_str()),
            (1, "ingest[0].transport"),
            "{message}"
        );
        assert!(message.contains("TCP only"), "{message}");
    } else {
        let (line, _, key, message) = fail(text);
        assert_eq!((line, key.as_str()), (2, "ingest[0].url"), "{message}");
        assert!(message.contains("Cargo feature tls"), "{message}");
    }
    assert!(!parse("[[ingest]]\nurl = \"rtsp://x/y\"\nstream = \"a/b\"\n").ingests[0].tls());
}

/// Without RTSP every `[[ingest]]` is refused, at the first one's `url` (or at the entry when it
/// has none).
#[test]
#[cfg(not(feature = "rtsp"))]
fn ingest_needs_rtsp() {
    let (line, column, key, message) = fail("[[ingest]]\nurl = \"rtsp://x/y\"\nstream = \"a/b\"\n");
    assert_eq!((line, column, key.as_str()), (2, 7, "ingest[0].url"));
    assert!(message.contains("Cargo feature rtsp"), "{message}");
    let (_, _, key, message) = fail("[[ingest]]\nstream = \"a/b\"\n");
    assert_eq!(key, "ingest[0].url");
    assert!(message.contains("Cargo feature rtsp"), "{message}");
    assert!(parse("").ingests.is_empty());
}

/// Without their features (the router build) the `exec`, `transcode`, `forward` and `cluster`
/// tables are read as a whole (`section::CompiledOut`): the key that would switch the feature
/// on is refused at its line, naming the feature; a table that leaves it off is taken whatever
/// else it says (the shipped config has each with `enabled = false`).
#[test]
#[cfg(not(any(feature = "exec", feature = "forward")))]
fn compiled_out_sections_refuse_what_switches_them_on() {
    for (text, at, key, feature) in [
        (
            "[vhost.__defaultVhost__.exec]\npublish = \"x\"\nenabled = true\n",
            (3, 11),
            "vhost.__defaultVhost__.exec.enabled",
            "exec",
        ),
        (
            "[vhost.cam.transcode]\nenabled = true\n",
            (2, 11),
            "vhost.cam.transcode.enabled",
            "exec",
        ),
        (
            "[vhost.__defaultVhost__.forward]\nenabled = true\ndestination = \"10.0.0.2\"\n",
            (2, 11),
            "vhost.__defaultVhost__.forward.enabled",
            "forward",
        ),
        (
            "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = \"10.0.0.2\"\n",
            (3, 10),
            "vhost.__defaultVhost__.cluster.origin",
            "edge",
        ),
        (
            "[vhost.__defaultVhost__.cluster]\nmode = \"local\"\norigin_cluster = true\n",
            (3, 18),
            "vhost.__defaultVhost__.cluster.origin_cluster",
            "edge",
        ),
        (
            "[vhost.__defaultVhost__.cluster]\ncoworkers = [\"10.0.0.3:1985\"]\n",
            (2, 13),
            "vhost.__defaultVhost__.cluster.coworkers",
            "edge",
        ),
    ] {
        let (line, column, k, message) = fail(text);
        assert_eq!(((line, column), k.as_str()), (at, key), "{text}");
        assert!(
            message.contains(&format!("Cargo feature {feature}")),
            "{message}"
        );
    }
    let off = "[vhost.__defaultVhost__.exec]\nenabled = false\npublish = 3\n\
               [vhost.__defaultVhost__.forward]\nqueue_max_bytes = 1\n\
               [vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = []\n\
               origin_cluster = false\ncoworkers = []\n";
    let c = parse(off);
    let v = c.default_vhost();
    assert!(!v.exec.enabled && !v.forward.enabled && !v.cluster.is_edge());
    assert_eq!(c, Config::embedded());
}

/// `rtsp_server.rtp_port_min`/`rtp_port_max`: both 0 (the kernel picks) or an even port from
/// 1024 and an odd one above it; each wrong alone is refused at its line, a wrong pairing at
/// the first line; a change shows in the reload diff.
#[test]
fn rtsp_server_rtp_ports_are_pairs() {
    let c = Config::from_toml_str("", "t").unwrap();
    assert_eq!(
        (c.rtsp_server_rtp_port_min, c.rtsp_server_rtp_port_max),
        (0, 0)
    );
    let text = "[rtsp_server]\nrtp_port_min = 8000\nrtp_port_max = 8099\n";
    let c = Config::from_toml_str(text, "t").unwrap();
    assert_eq!(
        (c.rtsp_server_rtp_port_min, c.rtsp_server_rtp_port_max),
        (8000, 8099)
    );
    let diff = Config::embedded().diff(&c);
    assert_eq!(diff.len(), 2, "{diff:?}");
    let refused = |text: &str| match Config::from_toml_str(text, "t") {
        Err(ConfigError::Parse { line, key, .. }) => (line, key),
        other => panic!("{text}: {other:?}"),
    };
    let min = "rtsp_server.rtp_port_min".to_owned();
    let max = "rtsp_server.rtp_port_max".to_owned();
    assert_eq!(
        refused("[rtsp_server]\nrtp_port_min = 8001\nrtp_port_max = 8099\n"),
        (2, min.clone())
    );
    assert_eq!(
        refused("[rtsp_server]\nrtp_port_min = 500\nrtp_port_max = 8099\n"),
        (2, min.clone())
    );
    assert_eq!(
        refused("[rtsp_server]\nrtp_port_min = 8000\nrtp_port_max = 8100\n"),
        (3, max)
    );
    assert_eq!(
        refused("[rtsp_server]\nrtp_port_min = 8000\n"),
        (1, min.clone())
    );
    assert_eq!(
        refused("[rtsp_server]\nrtp_port_min = 9000\nrtp_port_max = 8099\n"),
        (1, min)
    );
}

/// `rtc_server.protocol` and `rtc_server.tcp` (SRS 5's names): "all" and TCP on the UDP
/// address by default; "tcp" without the TCP listener is refused (SRS refuses it too); the
/// sub-table's keys are checked.
#[test]
fn rtc_server_protocol_and_tcp() {
    use crate::config::{RtcProtocol, RtcTcp};
    let c = Config::from_toml_str("", "t").unwrap();
    assert_eq!(c.rtc_server_protocol, RtcProtocol::All);
    assert_eq!(
        c.rtc_server_tcp,
        RtcTcp {
            enabled: true,
            listen: None
        }
    );
    let udp: std::net::SocketAddr = "0.0.0.0:8000".parse().unwrap();
    assert_eq!(c.rtc_server_tcp.address(udp), udp);
    let text = "[rtc_server]\nprotocol = \"tcp\"\n[rtc_server.tcp]\nlisten = 8080\n";
    let c = Config::from_toml_str(text, "t").unwrap();
    assert_eq!(c.rtc_server_protocol, RtcProtocol::Tcp);
    assert_eq!(c.rtc_server_tcp.address(udp).to_string(), "0.0.0.0:8080");
    let diff = Config::embedded().diff(&c);
    assert_eq!(diff.len(), 2, "{diff:?}");
    let c = Config::from_toml_str("[rtc_server]\ntcp.enabled = false\n", "t").unwrap();
    assert!(!c.rtc_server_tcp.enabled);
    let refused = |text: &str| match Config::from_toml_str(text, "t") {
        Err(ConfigError::Parse { key, .. }) => key,
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(
        refused("[rtc_server]\nprotocol = \"tcp\"\ntcp.enabled = false\n"),
        "rtc_server.protocol"
    );
    assert_eq!(
        refused("[rtc_server]\nprotocol = \"quic\"\n"),
        "rtc_server.protocol"
    );
    assert!(refused("[rtc_server.tcp]\nport = 1\n").starts_with("rtc_server.tcp"));
}
