//! HTTP-TS live playback (`/{app}/{stream}.ts`): the Source's shared TS packets
//! (`server::ts`), whose output is attached on the first TS player.

use bytes::Bytes;

use super::live::{self, Format};
use super::{Answer, HttpConn, Route};
use crate::live::Source;
use crate::media::SharedFrame;
use crate::server::stats::ClientKind;
use crate::server::{attach_ts, ts};
use crate::wire::http::RequestHead;

pub struct Ts;

impl Format for Ts {
    fn name(&self) -> &'static str {
        "HTTP-TS"
    }

    fn content_type(&self) -> &'static str {
        "video/mp2t"
    }

    fn client_kind(&self) -> ClientKind {
        ClientKind::TsPlay
    }

    fn attach(&self, source: &mut Source) {
        attach_ts(source);
    }

    fn frame(&self, frame: &SharedFrame, out: &mut Vec<Bytes>) {
        out.extend(ts::packets(frame));
    }
}

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let key = live::key_of(route, true)?;
    Some(live::play(conn, head, key, &Ts, now))
}
