//! `/metrics`, `/livez` and `/readyz` on one port.

use crate::metrics::Metrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;

/// Health as the probes see it.
#[derive(Debug, Default)]
pub struct Health {
    /// The CRDs are served and the controller (or its standby loop) runs.
    pub ready: AtomicBool,
}

/// Serves until the task is dropped. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    on_scrape: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            let health = health.clone();
            let on_scrape = on_scrape.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let metrics = metrics.clone();
                    let health = health.clone();
                    let on_scrape = on_scrape.clone();
                    async move { Ok::<_, Infallible>(route(&req, &metrics, &health, &*on_scrape)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((bound, task))
}

fn route(
    req: &Request<Incoming>,
    metrics: &Metrics,
    health: &Health,
    on_scrape: &(dyn Fn() + Send + Sync),
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String, content_type: &str| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    match req.uri().path() {
        "/metrics" => {
            on_scrape();
            text(
                StatusCode::OK,
                metrics.encode(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        }
        "/livez" => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        "/readyz" if health.ready.load(Ordering::SeqCst) => {
            text(StatusCode::OK, "ok\n".into(), "text/plain")
        }
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the Sealift CRDs\n".into(),
            "text/plain",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into(), "text/plain"),
    }
}
