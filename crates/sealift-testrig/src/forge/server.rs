//! A local HTTP server (127.0.0.1, a free port picked at run time) that a forge stand-in plugs its
//! behaviour into. Every exchange is recorded and checked against the forge's published API
//! descriptions: the request (operation, parameters, body) and the response (status, body).
//! Violations are recorded, never panicked on: read them with [`StandIn::violations`] or fail a
//! test with [`StandIn::assert_clean`].

use super::lock;
use super::spec::Spec;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// A request as the stand-in sees it. `segments` are relative to the API base and still
/// percent-encoded (GitLab's `acme%2Fgitops` is one segment).
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path relative to the API base, raw.
    pub path: String,
    /// `path` split at `/`, raw.
    pub segments: Vec<String>,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Headers, names lower-case.
    pub headers: HashMap<String, String>,
    /// The JSON body, if there was one.
    pub body: Option<Value>,
}

impl Request {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The first query parameter `name`.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path segments as `&str`, for slice patterns.
    pub fn seg(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// Path segment `i`, empty when the path is shorter.
    pub fn at(&self, i: usize) -> &str {
        self.segments.get(i).map(String::as_str).unwrap_or_default()
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<Value>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// An answer without a body (`204 No Content`).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// What a forge stand-in does: name the operation a request is, and answer it.
pub trait Behaviour: Send + Sync + 'static {
    /// The operation id in the forge's description, `None` for a route the forge does not have.
    fn route(&self, req: &Request) -> Option<&'static str>;
    /// The answer (authentication and quirks included).
    fn handle(&self, op: &'static str, req: &Request) -> Reply;
    /// The answer for a route the forge does not have.
    fn not_found(&self) -> Reply;
    /// Problems of the stand-in itself (a description without a component it needs), reported
    /// with the contract violations.
    fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One recorded exchange.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The operation id, `None` for a route the forge does not have.
    pub op: Option<&'static str>,
    /// What was sent.
    pub request: Request,
    /// The status answered.
    pub status: u16,
    /// The body answered.
    pub response: Option<Value>,
}

struct Fault {
    op: &'static str,
    reply: Reply,
    remaining: usize,
    /// Let the forge do the work, then lose the answer (a 502 from a proxy after the commit).
    after_handling: bool,
}

struct Shared<B> {
    behaviour: B,
    base_path: String,
    specs: Vec<Arc<Spec>>,
    log: Mutex<Vec<Exchange>>,
    violations: Mutex<Vec<String>>,
    faults: Mutex<VecDeque<Fault>>,
}

/// A running stand-in. Stops serving when dropped.
pub struct StandIn<B: Behaviour> {
    /// API base URL, e.g. `http://127.0.0.1:41234/api/v4`.
    pub url: String,
    /// `http://127.0.0.1:41234`.
    pub origin: String,
    shared: Arc<Shared<B>>,
    task: tokio::task::JoinHandle<()>,
}

impl<B: Behaviour> std::fmt::Debug for StandIn<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn").field("url", &self.url).finish()
    }
}

impl<B: Behaviour> StandIn<B> {
    /// Serves `behaviour` under `base_path` (`""`, `/api/v3`, `/api/v4`, …) on a free loopback
    /// port, checking every exchange against each of `specs`. Needs a Tokio runtime.
    pub async fn start(behaviour: B, base_path: &str, specs: Vec<Arc<Spec>>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a forge stand-in to 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour,
            base_path: base_path.trim_end_matches('/').to_owned(),
            specs,
            log: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
        });
        let server = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(serve(&shared, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let origin = format!("http://{addr}");
        Ok(Self {
            url: format!("{origin}{}", base_path.trim_end_matches('/')),
            origin,
            shared,
            task,
        })
    }

    /// The behaviour, to inspect or change its state.
    pub fn behaviour(&self) -> &B {
        &self.shared.behaviour
    }

    /// The next `times` requests for `op` get `reply` instead of the behaviour's answer.
    pub fn fail_next(&self, op: &'static str, times: usize, reply: Reply) {
        lock(&self.shared.faults).push_back(Fault {
            op,
            reply,
            remaining: times,
            after_handling: false,
        });
    }

    /// The next request for `op` is carried out, but its answer is replaced by `reply`.
    pub fn lose_answer(&self, op: &'static str, reply: Reply) {
        lock(&self.shared.faults).push_back(Fault {
            op,
            reply,
            remaining: 1,
            after_handling: true,
        });
    }

    /// Every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.shared.log).clone()
    }

    /// Requests for `op`, in order.
    pub fn calls(&self, op: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.op == Some(op))
            .collect()
    }

    /// Everything that broke the forge's published description so far (requests Sealift sent,
    /// answers the stand-in gave), plus problems of the stand-in itself.
    pub fn violations(&self) -> Vec<String> {
        let mut v = lock(&self.shared.violations).clone();
        v.extend(self.shared.behaviour.problems());
        v
    }

    /// An error listing every violation, if there is one; also when requests were made but none
    /// of them was an operation the forge has.
    pub fn assert_clean(&self) -> Result<()> {
        let v = self.violations();
        if !v.is_empty() {
            bail!("API description violations:\n  {}", v.join("\n  "));
        }
        let exchanges = self.exchanges();
        if !exchanges.is_empty() && exchanges.iter().all(|e| e.op.is_none()) {
            bail!("no request hit an operation the forge has");
        }
        Ok(())
    }
}

impl<B: Behaviour> Drop for StandIn<B> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<B: Behaviour>(
    shared: &Shared<B>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let raw_path = req.uri().path().to_owned();
    let query: Vec<(String, String)> = req.uri().query().map(url_pairs).unwrap_or_default();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut violations = Vec::new();
    let body = if bytes.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                violations.push(format!(
                    "{method} {raw_path}: request body is not JSON: {e}"
                ));
                None
            }
        }
    };
    let relative = raw_path.strip_prefix(&shared.base_path).unwrap_or_else(|| {
        violations.push(format!(
            "{method} {raw_path}: outside the API base {}",
            shared.base_path
        ));
        &raw_path
    });
    let request = Request {
        method: method.clone(),
        path: relative.to_owned(),
        segments: relative
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect(),
        query,
        headers,
        body,
    };
    let op = shared.behaviour.route(&request);
    let reply = match op {
        None => {
            violations.push(format!(
                "{method} {raw_path}: not an endpoint this forge has"
            ));
            shared.behaviour.not_found()
        }
        Some(op) => {
            let reply = answer(shared, op, &request);
            for spec in &shared.specs {
                let Some(described) = spec.op_by_id(op) else {
                    if !spec.partial {
                        violations.push(format!("{}: has no operation {op}", spec.label));
                    }
                    continue;
                };
                violations.extend(spec.check_request(
                    &described,
                    &request.path,
                    &request.query,
                    request.body.as_ref(),
                ));
                violations.extend(spec.check_response(
                    &described,
                    reply.status,
                    reply.body.as_ref(),
                ));
            }
            reply
        }
    };
    let response = respond(&reply, &mut violations);
    lock(&shared.violations).extend(violations);
    lock(&shared.log).push(Exchange {
        op,
        request,
        status: reply.status,
        response: reply.body.clone(),
    });
    response
}

/// The behaviour's answer, or an injected fault.
fn answer<B: Behaviour>(shared: &Shared<B>, op: &'static str, request: &Request) -> Reply {
    let fault = {
        let mut faults = lock(&shared.faults);
        let hit = faults
            .iter_mut()
            .find(|f| f.op == op && f.remaining > 0)
            .map(|f| {
                f.remaining -= 1;
                (f.reply.clone(), f.after_handling)
            });
        faults.retain(|f| f.remaining > 0);
        hit
    };
    match fault {
        Some((reply, false)) => reply,
        Some((reply, true)) => {
            shared.behaviour.handle(op, request);
            reply
        }
        None => shared.behaviour.handle(op, request),
    }
}

fn respond(reply: &Reply, violations: &mut Vec<String>) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    let payload = match &reply.body {
        Some(v) => {
            builder = builder.header("content-type", "application/json; charset=utf-8");
            Bytes::from(serde_json::to_vec(v).unwrap_or_default())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(payload)).unwrap_or_else(|e| {
        violations.push(format!("the stand-in built an invalid answer: {e}"));
        let mut broken = hyper::Response::new(Full::new(Bytes::new()));
        *broken.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        broken
    })
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent- and `+`-decoding; invalid escapes are kept as they are.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
