//! The publisher: sends a [`Stream`] over RTMP in real time, looping, with a [`Stamp`] in
//! front of the NAL units of every H.264 frame.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tinysrs::wire::rtmp::message::MessageType;
use tokio::time::{sleep_until, timeout, Instant};

use crate::client::{Client, SETUP_TIMEOUT};
use crate::source::Stream;
use crate::stamp::{Stamp, SEI_NAL_LEN};
use crate::stats::mono_us;
use crate::url::Url;

/// A publisher this far behind its schedule skips ahead instead of sending a burst.
const MAX_LAG: Duration = Duration::from_millis(500);

/// What the publisher has done so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// `Publish.Start` was received.
    pub publishing: Cell<bool>,
    /// Message payload bytes sent (stamps included, chunk headers not).
    pub bytes: Cell<u64>,
    pub frames: Cell<u64>,
}

pub async fn run(url: Url, stream: Rc<Stream>, counters: Rc<Counters>) -> io::Result<()> {
    let mut client = timeout(SETUP_TIMEOUT, async {
        let mut client = Client::connect(&url, mono_us()).await?;
        client.publish(&url.stream).await?;
        Ok::<_, io::Error>(client)
    })
    .await
    .map_err(|_| io::Error::other("publish: no Publish.Start in time"))??;
    counters.publishing.set(true);
    for m in &stream.headers {
        client.send_media(m.type_id, 0, &m.body).await?;
    }
    let mut scratch = Vec::new();
    let mut seq = 0u64;
    let mut base = Instant::now();
    for lap in 0u64.. {
        let lap_start = lap * u64::from(stream.period_ms);
        for m in &stream.frames {
            let ts = lap_start + u64::from(m.timestamp);
            let due = base + Duration::from_millis(ts);
            let now = Instant::now();
            if now > due + MAX_LAG {
                base += now - due;
            } else {
                sleep_until(due).await;
            }
            // Answer what the server sent meanwhile (pings, acknowledgement windows).
            while let Some(reply) = client.decode()? {
                client.answer(&reply).await?;
            }
            let body: &[u8] = if m.stampable {
                scratch.clear();
                scratch.extend_from_slice(&m.body[..5]);
                let len = (SEI_NAL_LEN as u32).to_be_bytes();
                scratch.extend_from_slice(&len[4 - stream.nal_len_size..]);
                let stamp = Stamp {
                    seq,
                    time_us: mono_us(),
                };
                seq += 1;
                scratch.extend_from_slice(&stamp.encode());
                scratch.extend_from_slice(&m.body[5..]);
                &scratch
            } else {
                &m.body
            };
            client.send_media(m.type_id, ts as u32, body).await?;
            counters.bytes.set(counters.bytes.get() + body.len() as u64);
            counters.frames.set(counters.frames.get() + 1);
            if m.type_id == MessageType::Video {
                poll_input(&mut client)?;
            }
        }
    }
    Ok(())
}

/// Takes what the server sent without waiting (its replies are small and rare).
fn poll_input(client: &mut Client) -> io::Result<()> {
    loop {
        client.input.reserve(4096);
        match client.stream.try_read_buf(&mut client.input) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
