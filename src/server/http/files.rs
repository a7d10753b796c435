//! The static web root (`http_server.dir`): the plan from `server::static_files`, made on the
//! disk thread, becomes a file body, a 304 or an error text.

use std::any::Any;
use std::path::Path;

use super::{Answer, Body, Deferred, FileBody, HttpConn, Response, Route};
use crate::server::static_files::{Plan, WebRoot, ALLOW};
use crate::wire::http::{Method, RequestHead};

const NOT_FOUND: Plan = Plan::Error {
    status: 404,
    message: "not found",
};

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, _: u64) -> Option<Answer> {
    if *route != Route::Static {
        return None;
    }
    let dir = conn.ctx.server.config().http.dir.clone();
    let request = head.clone();
    let work = move || -> Box<dyn Any + Send> {
        let plan = match WebRoot::new(Path::new(&dir)) {
            Ok(root) => root.plan_request(&request),
            Err(_) => NOT_FOUND,
        };
        Box::new(plan)
    };
    Some(Answer::Deferred(Deferred {
        work: Box::new(work),
        finish,
    }))
}

fn finish(conn: &mut HttpConn, head: &RequestHead, result: Box<dyn Any + Send>) -> Response {
    let plan = result.downcast::<Plan>().map_or(NOT_FOUND, |p| *p);
    respond(conn, head, plan)
}

/// The response to a plan of `server::static_files` (also for the DVR mount).
pub(super) fn respond(conn: &HttpConn, head: &RequestHead, plan: Plan) -> Response {
    let range = plan.content_range();
    match plan {
        Plan::File {
            path,
            status,
            content_type,
            start,
            len,
            last_modified,
            ..
        } => {
            let len_s = len.to_string();
            let mut headers = vec![
                ("Content-Type", content_type),
                ("Content-Length", len_s.as_str()),
                ("Accept-Ranges", "bytes"),
            ];
            if let Some(r) = &range {
                headers.push(("Content-Range", r));
            }
            if let Some(m) = &last_modified {
                headers.push(("Last-Modified", m));
            }
            let mut response = conn.respond(head, status, &headers, None);
            if head.method != Method::Head {
                let fallback = conn.text(head, 404, "not found").to_bytes();
                response.body = Body::File(FileBody {
                    path,
                    start,
                    len,
                    fallback,
                });
            }
            response
        }
        Plan::NotModified { last_modified } => conn.respond(
            head,
            304,
            &[
                ("Content-Length", "0"),
                ("Last-Modified", last_modified.as_str()),
            ],
            None,
        ),
        Plan::Redirect { location } => conn.respond(
            head,
            302,
            &[("Location", location), ("Content-Length", "0")],
            None,
        ),
        Plan::Error { status, message } => {
            let mut headers = vec![];
            if status == 405 {
                headers.push(("Allow", ALLOW));
            }
            let body = format!("{message}\n");
            let len = body.len().to_string();
            headers.push(("Content-Type", "text/plain; charset=utf-8"));
            headers.push(("Content-Length", &len));
            conn.respond(head, status, &headers, Some(body.into()))
        }
    }
}
