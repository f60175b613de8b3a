//! A local HTTP server (127.0.0.1, a free port picked at run time) that a forge stand-in plugs its
//! behaviour into. Every exchange is recorded and checked against the forge's published API
//! descriptions: the request (operation, parameters, body) and the response (status, body). A
//! violation fails the test that caused it — when the stand-in is dropped at the latest.

use super::spec::Spec;
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
    pub method: String,
    pub path: String,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HashMap<String, String>,
    pub body: Option<Value>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn seg(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

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
}

/// One recorded exchange.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub op: Option<&'static str>,
    pub request: Request,
    pub status: u16,
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

pub struct StandIn<B: Behaviour> {
    /// API base URL, e.g. `http://127.0.0.1:41234/api/v4`.
    pub url: String,
    /// `http://127.0.0.1:41234`.
    pub origin: String,
    shared: Arc<Shared<B>>,
    task: tokio::task::JoinHandle<()>,
}

impl<B: Behaviour> StandIn<B> {
    pub async fn start(behaviour: B, base_path: &str, specs: Vec<Arc<Spec>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
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
        Self {
            url: format!("{origin}{}", base_path.trim_end_matches('/')),
            origin,
            shared,
            task,
        }
    }

    pub fn behaviour(&self) -> &B {
        &self.shared.behaviour
    }

    /// The next `times` requests for `op` get `reply` instead of the behaviour's answer.
    pub fn fail_next(&self, op: &'static str, times: usize, reply: Reply) {
        self.shared.faults.lock().unwrap().push_back(Fault {
            op,
            reply,
            remaining: times,
            after_handling: false,
        });
    }

    /// The next request for `op` is carried out, but its answer is replaced by `reply`.
    pub fn lose_answer(&self, op: &'static str, reply: Reply) {
        self.shared.faults.lock().unwrap().push_back(Fault {
            op,
            reply,
            remaining: 1,
            after_handling: true,
        });
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests for `op`, in order.
    pub fn calls(&self, op: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.op == Some(op))
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// Fails when any request or response broke the forge's published description.
    pub fn assert_contract(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "API description violations:\n  {}",
            v.join("\n  ")
        );
        let checked = self.exchanges().iter().filter(|e| e.op.is_some()).count();
        assert!(checked > 0 || self.exchanges().is_empty());
    }
}

impl<B: Behaviour> Drop for StandIn<B> {
    fn drop(&mut self) {
        self.task.abort();
        if !std::thread::panicking() {
            let v = self.violations();
            assert!(
                v.is_empty(),
                "API description violations:\n  {}",
                v.join("\n  ")
            );
        }
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
            let fault = {
                let mut faults = shared.faults.lock().unwrap();
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
            let reply = match fault {
                Some((reply, false)) => reply,
                Some((reply, true)) => {
                    shared.behaviour.handle(op, &request);
                    reply
                }
                None => shared.behaviour.handle(op, &request),
            };
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
    shared.violations.lock().unwrap().extend(violations);
    shared.log.lock().unwrap().push(Exchange {
        op,
        request,
        status: reply.status,
        response: reply.body.clone(),
    });
    let mut builder = hyper::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    let payload = match &reply.body {
        Some(v) => {
            builder = builder.header("content-type", "application/json; charset=utf-8");
            Bytes::from(serde_json::to_vec(v).unwrap())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(payload)).unwrap()
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

pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
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
