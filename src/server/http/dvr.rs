//! The recordings below a vhost's `dvr.http_mount`: planned on the disk thread by
//! `server::dvr::vod`, answered as static files or, for an FLV with `?start=`, as its head
//! and the file from a keyframe on ([`Body::Pieces`]).

use std::any::Any;

use super::files::respond;
use super::{Answer, Body, Deferred, HttpConn, Piece, Response, Route};
use crate::server::dvr::vod::{self, Vod};
use crate::server::static_files::Plan;
use crate::wire::http::{query_param, Method, RequestHead};

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, _: u64) -> Option<Answer> {
    let Route::Dvr { root, rest } = route else {
        return None;
    };
    if !matches!(head.method, Method::Get | Method::Head) {
        let refused = Plan::Error {
            status: 405,
            message: "method not allowed",
        };
        return Some(Answer::Response(respond(conn, head, refused)));
    }
    // SRS's FLV seek; a value that is not a number is ignored (the whole file).
    let start = query_param(&head.query, "start").and_then(|s| s.parse::<u64>().ok());
    let (root, rest, request) = (root.clone(), rest.clone(), head.clone());
    let work =
        move || -> Box<dyn Any + Send> { Box::new(vod::plan(&root, &request, &rest, start)) };
    Some(Answer::Deferred(Deferred {
        work: Box::new(work),
        finish,
    }))
}

fn finish(conn: &mut HttpConn, head: &RequestHead, result: Box<dyn Any + Send>) -> Response {
    let not_found = Plan::Error {
        status: 404,
        message: "not found",
    };
    let vod = result
        .downcast::<Vod>()
        .map_or(Vod::File(not_found), |v| *v);
    match vod {
        Vod::File(plan) => respond(conn, head, plan),
        Vod::FlvFrom {
            path,
            head_len,
            key_at,
            total,
            last_modified,
        } => {
            let tail = total.saturating_sub(key_at);
            let len = (head_len + tail).to_string();
            let mut headers = vec![("Content-Type", "video/x-flv"), ("Content-Length", &len)];
            if let Some(m) = &last_modified {
                headers.push(("Last-Modified", m));
            }
            let mut response = conn.respond(head, 200, &headers, None);
            if head.method != Method::Head {
                let mut pieces = vec![Piece::File {
                    path: path.clone(),
                    start: 0,
                    len: head_len,
                }];
                if tail > 0 {
                    pieces.push(Piece::File {
                        path,
                        start: key_at,
                        len: tail,
                    });
                }
                response.body = Body::Pieces(pieces);
            }
            response
        }
    }
}
