//! The attempts of one ingest: what `net::rtsp` does after a pull ends. It counts the
//! attempts, keeps the [`Backoff`], chooses the transport (`auto` falls back to TCP
//! interleaved, at once and for the rest of the process or until the API restarts the ingest,
//! when the camera refuses UDP or no RTP comes over it) and logs each outcome once.

use super::Backoff;
use crate::config::{Ingest, IngestTransport};

/// How a pull ended, as the driver saw it.
#[derive(Debug)]
pub enum Ended {
    /// The API asked for a restart.
    Restart,
    /// Nobody wants the stream any more (on demand): torn down.
    Idle,
    /// An error; `udp_blocked`: the camera refused UDP or no RTP came over it.
    Failed { error: String, udp_blocked: bool },
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait until it is wanted, then connect.
    Connect,
    /// Wait this long (ms; a restart from the API ends the wait early), then connect.
    Backoff(u64),
}

#[derive(Debug, Default)]
pub struct Attempts {
    backoff: Backoff,
    /// Attempts since the camera last played (logged).
    attempt: u64,
    /// `auto` gave up on UDP.
    tcp_fallback: bool,
}

impl Attempts {
    /// A new attempt: its number, for the log.
    pub fn start(&mut self) -> u64 {
        self.attempt += 1;
        self.attempt
    }

    /// Whether this attempt binds UDP ports for RTP (`udp`, or `auto` before a fallback;
    /// never for `rtsps://`, whose RTP comes over the TLS connection).
    pub fn want_udp(&self, ingest: &Ingest) -> bool {
        if ingest.tls() {
            return false;
        }
        match ingest.transport {
            IngestTransport::Tcp => false,
            IngestTransport::Udp => true,
            IngestTransport::Auto => !self.tcp_fallback,
        }
    }

    /// The camera played during the attempt: the next failure waits the least again.
    pub fn played(&mut self) {
        self.backoff.reset();
        self.attempt = 0;
    }

    /// The API restarted the ingest: `auto` tries UDP again.
    pub fn restarted(&mut self, ingest: &Ingest) {
        log::info!("ingest {}: restarted by the API", ingest.stream);
        self.tcp_fallback = false;
    }

    /// A pull ended (`with_udp`: it had UDP ports): what comes next, logged.
    pub fn ended(&mut self, ingest: &Ingest, with_udp: bool, ended: Ended) -> Next {
        let name = &ingest.stream;
        match ended {
            Ended::Restart => {
                self.restarted(ingest);
                Next::Connect
            }
            Ended::Failed {
                error,
                udp_blocked: true,
            } if ingest.transport == IngestTransport::Auto && with_udp => {
                log::warn!("ingest {name}: {error}; falling back to TCP interleaved");
                self.tcp_fallback = true;
                Next::Connect
            }
            Ended::Idle => {
                log::info!(
                    "ingest {name}: stopped, no players for {} s",
                    ingest.on_demand_close_after_s
                );
                self.attempt = 0;
                Next::Connect
            }
            Ended::Failed { error, .. } => {
                let wait = self.backoff.after_failure();
                log::warn!(
                    "ingest {name}: {}: {error}; retrying in {} s",
                    ingest.url_for_log(),
                    wait / 1000
                );
                Next::Backoff(wait)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(transport: IngestTransport) -> Ingest {
        let text = format!(
            "[[ingest]]\nurl = \"rtsp://10.0.0.2/s\"\nstream = \"live/cam\"\n\
             transport = \"{}\"\n",
            transport.as_str()
        );
        crate::config::Config::from_toml_str(&text, "t")
            .unwrap()
            .ingests[0]
            .clone()
    }

    #[test]
    fn auto_falls_back_to_tcp_until_a_restart() {
        let auto = ingest(IngestTransport::Auto);
        let mut a = Attempts::default();
        assert!(a.want_udp(&auto));
        let blocked = || Ended::Failed {
            error: "no RTP over UDP".into(),
            udp_blocked: true,
        };
        assert_eq!(a.ended(&auto, true, blocked()), Next::Connect);
        assert!(!a.want_udp(&auto));
        // Without UDP ports, a UDP fault is a failure like any other.
        assert_eq!(a.ended(&auto, false, blocked()), Next::Backoff(1_000));
        assert_eq!(a.ended(&auto, false, blocked()), Next::Backoff(2_000));
        a.restarted(&auto);
        assert!(a.want_udp(&auto));
        a.played();
        let failed = Ended::Failed {
            error: "refused".into(),
            udp_blocked: false,
        };
        assert_eq!(a.ended(&auto, true, failed), Next::Backoff(1_000));
        let udp = ingest(IngestTransport::Udp);
        assert_eq!(a.ended(&udp, true, blocked()), Next::Backoff(2_000));
        assert!(a.want_udp(&udp) && !a.want_udp(&ingest(IngestTransport::Tcp)));
        assert_eq!(a.start(), 1);
        assert_eq!(a.ended(&udp, true, Ended::Idle), Next::Connect);
        assert_eq!(a.start(), 1);
    }
}
