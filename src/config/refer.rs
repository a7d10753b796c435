//! Per-vhost referer checks, as SRS's `refer` section (`srs_app_refer.cpp`): which web pages may
//! embed a player or a publisher, judged by the page's URL the client reports (RTMP
//! `connect`'s `pageUrl`, the HTTP `Referer` header).
//!
//! When `enabled`, a client passes a list when the host of its page URL is one of the list's
//! domains or under one of them (`example.com` admits `example.com` and `www.example.com`); an
//! empty list admits everyone. `all` is checked at RTMP `connect` and for every HTTP player,
//! `publish` at publish, `play` at play. A client that reports no page (ffmpeg, OBS, VLC) fails
//! every non-empty list, as in SRS. SRS matches any suffix of the host (`example.com` would also
//! admit `badexample.com`); here a domain matches only at a dot boundary.

use super::schema::{words_or_list, FromToml, Invalid, Item, Value};
use super::section::{no_hook, Section, Show};
use super::security::Method;

/// Most domains one list may name. Why: each client's page is compared with every one.
pub const MAX_DOMAINS: usize = 64;

/// Longest domain accepted (DNS's limit).
pub const MAX_DOMAIN_LEN: usize = 253;

/// The domains of one list (empty: the list admits everyone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domains(pub Vec<String>);

impl Value<Domains> for Domains {
    fn into_value(self) -> Domains {
        self
    }
}

/// One domain, a space-separated string of domains (as SRS writes them), or a list.
impl FromToml for Domains {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let domains = words_or_list(
            item,
            "a domain or a list of domains",
            MAX_DOMAINS,
            "domains",
        )?;
        let refuse = |message: String| Invalid {
            span: item.span(),
            message,
        };
        let mut out = Vec::with_capacity(domains.len());
        for domain in domains {
            let bare = domain.trim_start_matches('.');
            if bare.is_empty()
                || bare.len() > MAX_DOMAIN_LEN
                || !bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(refuse(format!(
                    "{domain:?} is not a domain name (letters, digits, '-' and '.')"
                )));
            }
            out.push(bare.to_ascii_lowercase());
        }
        Ok(Domains(out))
    }
}

impl Show for Domains {
    fn show(&self) -> String {
        format!("{:?}", self.0)
    }
}

impl Domains {
    /// Whether the page at `page_url` passes this list.
    pub fn admits(&self, page_url: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let host = page_host(page_url);
        !host.is_empty() && self.0.iter().any(|d| host_under(host, d))
    }
}

/// The host of a page URL as SRS cuts it: after `://`, before the first `/`, then before the
/// first `:` (a bracketed IPv6 host is kept whole).
pub fn page_host(page_url: &str) -> &str {
    let rest = page_url
        .split_once("://")
        .map_or(page_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &h[1..]);
    }
    authority.split(':').next().unwrap_or("")
}

/// `host` is `domain` or a name under it, ASCII case-insensitively.
fn host_under(host: &str, domain: &str) -> bool {
    let (h, d) = (host.as_bytes(), domain.as_bytes());
    if h.len() < d.len() || !h[h.len() - d.len()..].eq_ignore_ascii_case(d) {
        return false;
    }
    h.len() == d.len() || h[h.len() - d.len() - 1] == b'.'
}

section! {
    /// A vhost's `refer` section (SRS: `refer { enabled; all; publish; play; }`).
    pub struct Refer: RawRefer, "a table of referer settings" {
        /// `refer.enabled` (SRS). When false, every page is admitted.
        enabled: bool = false => enabled: bool;
        /// `refer.all` (SRS): pages admitted at RTMP connect and for every HTTP player.
        all: Domains = Domains::default() => all: Domains;
        /// `refer.publish` (SRS): pages admitted to publish.
        publish: Domains = Domains::default() => publish: Domains;
        /// `refer.play` (SRS): pages admitted to play.
        play: Domains = Domains::default() => play: Domains;
    }
    nested {}
    extra {}
    raw no_hook {}
}

impl Default for Refer {
    /// Disabled, no lists.
    fn default() -> Refer {
        Refer::defaults()
    }
}

impl Refer {
    /// RTMP `connect` (`all`).
    pub fn allows_connect(&self, page_url: &str) -> bool {
        !self.enabled || self.all.admits(page_url)
    }

    /// A publish or a play by a client whose `connect` passed [`Refer::allows_connect`].
    pub fn allows(&self, method: Method, page_url: &str) -> bool {
        if !self.enabled {
            return true;
        }
        match method {
            Method::Publish => self.publish.admits(page_url),
            Method::Play => self.play.admits(page_url),
        }
    }

    /// An HTTP player: `all` and `play`, the one request being its connect and its play.
    pub fn allows_http_play(&self, referer: &str) -> bool {
        self.allows_connect(referer) && self.allows(Method::Play, referer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(list: &[&str]) -> Domains {
        Domains(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn hosts_are_cut_as_srs_cuts_them() {
        let cases = [
            ("http://www.example.com/player.html?x=1", "www.example.com"),
            ("https://example.com:8443/p", "example.com"),
            ("example.com/p", "example.com"),
            ("http://user:pw@cam.example.com/", "cam.example.com"),
            ("http://[::1]:8080/x", "::1"),
            ("http://10.0.0.5", "10.0.0.5"),
            ("", ""),
            ("http://", ""),
        ];
        for (url, host) in cases {
            assert_eq!(page_host(url), host, "{url}");
        }
    }

    #[test]
    fn a_domain_admits_itself_and_names_under_it_only() {
        let d = domains(&["example.com", "10.0.0.5"]);
        assert!(d.admits("http://example.com/a"));
        assert!(d.admits("http://WWW.Example.COM/a"));
        assert!(d.admits("https://a.b.example.com:99/"));
        assert!(d.admits("http://10.0.0.5:8080/"));
        assert!(!d.admits("http://badexample.com/"));
        assert!(!d.admits("http://example.com.evil.net/"));
        assert!(!d.admits("http://evil.net/?example.com"));
        assert!(!d.admits(""), "no page fails a non-empty list");
        assert!(domains(&[]).admits(""), "an empty list admits everyone");
    }

    #[test]
    fn lists_apply_only_when_enabled_and_to_their_method() {
        let mut r = Refer {
            all: domains(&["example.com"]),
            publish: domains(&["studio.example.com"]),
            ..Refer::default()
        };
        assert!(r.allows_connect(""), "disabled admits everyone");
        assert!(r.allows(Method::Publish, ""));
        r.enabled = true;
        assert!(!r.allows_connect(""));
        assert!(r.allows_connect("http://www.example.com/"));
        assert!(!r.allows(Method::Publish, "http://www.example.com/"));
        assert!(r.allows(Method::Publish, "http://studio.example.com/"));
        assert!(r.allows(Method::Play, "http://www.example.com/"));
        assert!(r.allows_http_play("http://www.example.com/"));
        assert!(!r.allows_http_play("http://other.org/"));
    }
}
