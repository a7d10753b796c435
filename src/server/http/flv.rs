//! HTTP-FLV live playback (`/{app}/{stream}.flv`): the FLV file header, then each frame's
//! shared tag framing around its payload (`server::flv`).

use bytes::Bytes;

use super::live::{self, Format};
use super::{Answer, HttpConn, Route};
use crate::live::Source;
use crate::media::SharedFrame;
use crate::server::flv;
use crate::server::stats::ClientKind;
use crate::wire::http::RequestHead;

pub struct Flv;

impl Format for Flv {
    fn name(&self) -> &'static str {
        "HTTP-FLV"
    }

    fn content_type(&self) -> &'static str {
        "video/x-flv"
    }

    fn client_kind(&self) -> ClientKind {
        ClientKind::FlvPlay
    }

    fn header(&self, source: Option<&Source>) -> Option<Bytes> {
        Some(flv::file_header(source))
    }

    fn frame(&self, frame: &SharedFrame, out: &mut Vec<Bytes>) {
        let (head, tail) = flv::framing(frame);
        out.push(head);
        out.push(frame.data.clone());
        out.push(tail);
    }
}

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let key = live::key_of(route, false)?;
    Some(live::play(conn, head, key, &Flv, now))
}
