//! The origin cluster's coworker query (`server::origin_cluster`): one `GET` per coworker, in
//! order, each bounded by [`QUERY_TIMEOUT_MS`], until one places the stream.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dial::connect;
use crate::server::origin_cluster::{
    CoworkerQuery, Placed, MAX_ANSWER, QUERY_READ_BUFFER, QUERY_TIMEOUT_MS,
};
use crate::wire::http::client::ResponseReader;

/// Where the first coworker that has the stream has it, or why none does.
pub async fn discover(query: &CoworkerQuery) -> Result<Placed, String> {
    let mut why = Vec::new();
    for coworker in &query.coworkers {
        let Some(request) = query.request(coworker) else {
            why.push(format!("{}: cannot be asked", coworker.text));
            continue;
        };
        let timeout = Duration::from_millis(QUERY_TIMEOUT_MS);
        let answer =
            match tokio::time::timeout(timeout, ask(&coworker.host, coworker.port, &request)).await
            {
                Ok(Ok((status, body))) => CoworkerQuery::answer(status, &body),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timeout".into()),
            };
        match answer {
            Ok(placed) => {
                log::debug!("[{}] coworker {}: {placed:?}", query.cid, coworker.text);
                return Ok(placed);
            }
            Err(e) => why.push(format!("{}: {e}", coworker.text)),
        }
    }
    Err(why.join("; "))
}

/// One request to one coworker: the response's status and body.
async fn ask(host: &str, port: u16, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut stream = connect(host, port)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut reader = ResponseReader::new(MAX_ANSWER);
    let mut buf = vec![0u8; QUERY_READ_BUFFER];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let done = if n == 0 {
            reader.handle_eof().map(|()| true)
        } else {
            reader.handle_bytes(&buf[..n])
        }
        .map_err(|e| e.to_string())?;
        if done {
            return Ok((reader.status(), reader.body().to_vec()));
        }
    }
}
