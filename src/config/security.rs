//! Per-vhost access rules, as SRS's `security` section (`srs_app_security.cpp`).
//!
//! A rule line is `allow|deny publish|play all|IP|CIDR`, e.g. `"deny play 10.0.0.0/8"`.
//! Semantics when `enabled` (SRS): a client is refused if any `deny` rule for its method matches;
//! otherwise it is admitted only if an `allow` rule for its method matches, so an enabled section
//! with no rules refuses everyone. When not enabled, everything is allowed.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use toml::Spanned;

use super::error::ConfigError;
use super::section::{ErrorAt, Section};

/// What a client asks to do on a stream; each rule applies to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// RTMP `publish` (FMLE or Flash style).
    Publish,
    /// RTMP `play`, and any other player protocol.
    Play,
}

impl Method {
    /// The word used in rule lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "publish",
            Method::Play => "play",
        }
    }
}

/// Whether a matching rule admits or refuses the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    /// The word used in rule lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// The client addresses a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    /// The word `all`.
    All,
    /// One address (`prefix` 32 or 128) or a network; `addr` has its host bits cleared.
    Net { addr: IpAddr, prefix: u8 },
}

impl Peers {
    /// Whether `ip` is one of these peers. IPv4-mapped IPv6 clients (`::ffff:a.b.c.d`, as seen on
    /// a dual-stack listener) are matched as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip.to_canonical()) {
            (Peers::All, _) => true,
            (
                Peers::Net {
                    addr: IpAddr::V4(net),
                    prefix,
                },
                IpAddr::V4(ip),
            ) => u32::from(ip) & mask_v4(prefix) == u32::from(net),
            (
                Peers::Net {
                    addr: IpAddr::V6(net),
                    prefix,
                },
                IpAddr::V6(ip),
            ) => u128::from(ip) & mask_v6(prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// One parsed rule line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub method: Method,
    pub peers: Peers,
}

/// Why a rule line was refused; the config loader adds the rule text and its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(String);

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

impl FromStr for Rule {
    type Err = RuleError;

    /// Parses `allow|deny publish|play all|IP|CIDR`, words separated by any whitespace. Host bits
    /// set below the prefix (`10.0.0.1/8`) are cleared, as SRS and most firewalls do.
    fn from_str(line: &str) -> Result<Rule, RuleError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [action, method, peers] = words[..] else {
            return Err(RuleError(format!(
                "expected 3 words \"allow|deny publish|play all|IP|CIDR\", found {}",
                words.len()
            )));
        };
        let action = match action {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            other => {
                return Err(RuleError(format!(
                    "expected allow or deny, found {other:?}"
                )))
            }
        };
        let method = match method {
            "publish" => Method::Publish,
            "play" => Method::Play,
            other => {
                return Err(RuleError(format!(
                    "expected publish or play, found {other:?}"
                )))
            }
        };
        let peers = parse_peers(peers)?;
        Ok(Rule {
            action,
            method,
            peers,
        })
    }
}

fn parse_peers(text: &str) -> Result<Peers, RuleError> {
    if text == "all" {
        return Ok(Peers::All);
    }
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        RuleError(format!(
            "expected all, an IP address or a CIDR network, found {text:?}"
        ))
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        // Plain decimal only: no sign, no leading zero (`u8::from_str` would take `+8`, `08`).
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && p == n.to_string() => n,
            _ => {
                return Err(RuleError(format!(
                    "prefix length in {text:?} must be 0..={max} for {}",
                    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                )))
            }
        },
    };
    let addr = match addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask_v4(prefix)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask_v6(prefix)).into()),
    };
    Ok(Peers::Net { addr, prefix })
}

impl fmt::Display for Rule {
    /// The canonical rule line, e.g. `deny play 10.0.0.0/8`; a single address has no prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.action.as_str(), self.method.as_str())?;
        match self.peers {
            Peers::All => f.write_str("all"),
            Peers::Net { addr, prefix } => {
                let full = if addr.is_ipv4() { 32 } else { 128 };
                if prefix == full {
                    write!(f, "{addr}")
                } else {
                    write!(f, "{addr}/{prefix}")
                }
            }
        }
    }
}

section! {
    /// A vhost's `security` section (SRS: `security { enabled; allow ...; deny ...; }`).
    pub struct Security: RawSecurity, "a table of security settings" {
        /// SRS: `security.enabled`. When false, [`Security::allows`] admits everyone.
        enabled: bool = false => enabled: bool;
    }
    nested {}
    extra {
        /// The rules in file order (order does not change the outcome).
        pub rules: Vec<Rule> = Vec::new() => "rules" @show(show_rules);
    }
    raw apply_rules {
        /// Parsed by [`apply_rules`] so that an error points at the rule, not at the whole array.
        rules: Vec<Spanned<String>>,
    }
}

impl Default for Security {
    /// Disabled, no rules.
    fn default() -> Security {
        Security::defaults()
    }
}

/// `security.rules`: each line parsed, an error at the line's own span.
fn apply_rules(
    security: &mut Security,
    (lines,): (Option<Vec<Spanned<String>>>,),
    path: &str,
    at: &ErrorAt<'_>,
) -> Result<(), ConfigError> {
    let Some(lines) = lines else {
        return Ok(());
    };
    let mut rules = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let rule = line.get_ref().parse::<Rule>().map_err(|e| {
            at(
                line.span(),
                format!("{path}.rules[{i}]"),
                format!("bad rule {:?}: {e}", line.get_ref()),
            )
        })?;
        rules.push(rule);
    }
    security.rules = rules;
    Ok(())
}

/// The rules as the file writes them: `["allow play all", "deny play 10.0.0.0/8"]`.
fn show_rules(rules: &[Rule]) -> String {
    let rules: Vec<String> = rules
        .iter()
        .map(|r| format!("{:?}", r.to_string()))
        .collect();
    format!("[{}]", rules.join(", "))
}

impl Security {
    /// Whether a client at `ip` may `method` on this vhost (SRS semantics, see the module doc).
    pub fn allows(&self, method: Method, ip: IpAddr) -> bool {
        if !self.enabled {
            return true;
        }
        let matching = |action: Action| {
            self.rules
                .iter()
                .any(|r| r.action == action && r.method == method && r.peers.contains(ip))
        };
        !matching(Action::Deny) && matching(Action::Allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn rule(s: &str) -> Rule {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_all_ip_and_cidr() {
        assert_eq!(
            rule("allow play all"),
            Rule {
                action: Action::Allow,
                method: Method::Play,
                peers: Peers::All
            }
        );
        assert_eq!(
            rule("deny publish 127.0.0.1").peers,
            Peers::Net {
                addr: ip("127.0.0.1"),
                prefix: 32
            }
        );
        assert_eq!(
            rule("  allow \t publish   ::1 ").peers,
            Peers::Net {
                addr: ip("::1"),
                prefix: 128
            }
        );
        assert_eq!(
            rule("allow play 2001:db8::/32").peers,
            Peers::Net {
                addr: ip("2001:db8::"),
                prefix: 32
            }
        );
        assert_eq!(
            rule("allow play 10.1.2.3/8").peers,
            Peers::Net {
                addr: ip("10.0.0.0"),
                prefix: 8
            },
            "host bits are cleared"
        );
    }

    #[test]
    fn parses_every_ipv4_prefix() {
        for prefix in 0..=32u8 {
            let r = rule(&format!("deny play 255.255.255.255/{prefix}"));
            let expect = Ipv4Addr::from(mask_v4(prefix));
            assert_eq!(
                r.peers,
                Peers::Net {
                    addr: IpAddr::V4(expect),
                    prefix
                }
            );
            assert!(r.peers.contains(IpAddr::V4(expect)));
        }
        for prefix in [0u8, 1, 63, 64, 127, 128] {
            let r = rule(&format!("deny play ffff::ffff/{prefix}"));
            assert!(r.peers.contains(ip("ffff::ffff")));
        }
    }

    #[test]
    fn refuses_bad_rules() {
        for (line, wanted) in [
            ("", "expected 3 words"),
            ("allow play", "expected 3 words"),
            ("allow play all extra", "expected 3 words"),
            (
                "permit play all",
                "expected allow or deny, found \"permit\"",
            ),
            ("Allow play all", "expected allow or deny"),
            ("allow view all", "expected publish or play, found \"view\""),
            ("allow play any", "expected all, an IP address"),
            ("allow play all;", "expected all, an IP address"),
            ("allow play 10.0.0.256", "expected all, an IP address"),
            ("allow play 10.0.0.0/33", "must be 0..=32 for IPv4"),
            ("allow play 10.0.0.0/", "must be 0..=32 for IPv4"),
            ("allow play 10.0.0.0/-1", "must be 0..=32 for IPv4"),
            ("allow play 10.0.0.0/+8", "must be 0..=32 for IPv4"),
            ("allow play 10.0.0.0/08", "must be 0..=32 for IPv4"),
            ("allow play 10.0.0.0/8/8", "must be 0..=32 for IPv4"),
            ("allow play ::/129", "must be 0..=128 for IPv6"),
            ("allow play /8", "expected all, an IP address"),
            ("allow play localhost", "expected all, an IP address"),
        ] {
            let err = line.parse::<Rule>().expect_err(line).to_string();
            assert!(err.contains(wanted), "{line:?}: {err}");
        }
    }

    #[test]
    fn displays_canonical_lines() {
        for (line, shown) in [
            ("allow play all", "allow play all"),
            ("deny  publish 10.9.8.7/8", "deny publish 10.0.0.0/8"),
            ("allow publish 127.0.0.1", "allow publish 127.0.0.1"),
            ("allow publish 127.0.0.1/32", "allow publish 127.0.0.1"),
            ("allow play 2001:DB8::1/64", "allow play 2001:db8::/64"),
            ("deny play 0.0.0.0/0", "deny play 0.0.0.0/0"),
        ] {
            assert_eq!(rule(line).to_string(), shown);
            assert_eq!(rule(shown), rule(line), "display round-trips");
        }
    }

    fn security(enabled: bool, rules: &[&str]) -> Security {
        Security {
            enabled,
            rules: rules.iter().map(|r| rule(r)).collect(),
        }
    }

    #[test]
    fn allows_truth_table() {
        use Method::{Play, Publish};
        let s = security(
            true,
            &[
                "allow publish 127.0.0.1",
                "allow play all",
                "deny play 10.0.0.0/8",
                "allow publish 2001:db8::/32",
                "deny publish 2001:db8::bad",
            ],
        );
        for (method, addr, allowed) in [
            (Publish, "127.0.0.1", true),
            (Publish, "127.0.0.2", false),
            (Publish, "::ffff:127.0.0.1", true),
            (Publish, "::1", false),
            (Publish, "2001:db8::1", true),
            (Publish, "2001:db8::bad", false),
            (Publish, "2001:db9::1", false),
            (Play, "192.168.1.1", true),
            (Play, "::1", true),
            (Play, "10.0.0.1", false),
            (Play, "10.255.255.255", false),
            (Play, "::ffff:10.1.1.1", false),
            (Play, "11.0.0.0", true),
        ] {
            assert_eq!(
                s.allows(method, ip(addr)),
                allowed,
                "{method:?} from {addr}"
            );
        }
    }

    #[test]
    fn deny_overrides_allow_in_any_order() {
        for rules in [
            ["allow play all", "deny play 192.168.0.0/16"],
            ["deny play 192.168.0.0/16", "allow play all"],
        ] {
            let s = security(true, &rules);
            assert!(!s.allows(Method::Play, ip("192.168.3.4")));
            assert!(s.allows(Method::Play, ip("192.169.3.4")));
            assert!(
                !s.allows(Method::Publish, ip("192.169.3.4")),
                "no allow rule for publish"
            );
        }
        let s = security(true, &["allow play 1.2.3.4", "deny play all"]);
        assert!(!s.allows(Method::Play, ip("1.2.3.4")));
    }

    #[test]
    fn enabled_without_rules_refuses_all_and_disabled_allows_all() {
        let any = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        let empty = security(true, &[]);
        let off = security(false, &["deny play all", "deny publish all"]);
        for addr in any {
            for method in [Method::Play, Method::Publish] {
                assert!(!empty.allows(method, addr));
                assert!(off.allows(method, addr));
            }
        }
    }
}
