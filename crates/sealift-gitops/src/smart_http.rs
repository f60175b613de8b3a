//! Pushing over git's smart HTTP protocol (gitprotocol-http(5)) with exactly the objects a
//! promotion commit introduced.
//!
//! libgit2's `Remote::push` decides what to send with a revwalk that marks every tree of the
//! parent commit uninteresting, which reads the whole root tree: the cost of a one-file promotion
//! grew with the size of the repository. Sealift already knows the answer — the commit, the trees
//! on the changed paths and the new blobs ([`crate::commit::NewCommit`]) — so it packs those
//! (`git2::PackBuilder::insert_object`, no walk) and speaks receive-pack itself. (The server's
//! own connectivity check still walks the base's tree; see `docs/performance.md`.)
//!
//! 1. `GET <url>/info/refs?service=git-receive-pack`: the ref's current id and the capabilities.
//! 2. `POST <url>/git-receive-pack`: `<old> <new> <ref>\0<capabilities>`, a flush-pkt, the pack.
//! 3. `report-status`: `unpack ok`, then `ok <ref>` or `ng <ref> <reason>`.
//!
//! The old id in the command is what makes the update safe: for the base branch it is the head
//! the commit was built on, and receive-pack refuses the update when the ref no longer points
//! there (a moved base is never overwritten). Credentials go out once, as basic auth; a 401 or 403
//! is an authentication failure. TLS is verified against the system's roots (rustls).

use crate::credentials::GitCredentials;
use crate::pktline::{Advertisement, parse_report, write_flush, write_pkt};
use crate::remote::RemoteError;
use git2::{Oid, Repository};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Connecting to the server (TCP + TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request, answer included. The push answers after the server has indexed the pack,
/// checked connectivity and run its hooks.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read: ref advertisements of repositories with very many refs run to megabytes.
const MAX_RESPONSE: u64 = 64 << 20;
/// Redirects followed for the ref discovery request (none for the push itself, as git does).
const MAX_REDIRECTS: usize = 5;
/// Smart-HTTP servers and proxies expect a git-like agent; libgit2 and JGit send the same prefix.
const USER_AGENT: &str = concat!("git/2.0 (sealift-gitops/", env!("CARGO_PKG_VERSION"), ")");

/// True for the URLs this module pushes to.
pub(crate) fn handles(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The update asked of the server.
#[derive(Clone, Debug)]
pub(crate) struct RefUpdate<'a> {
    /// Full ref name, `refs/heads/…`.
    pub(crate) refname: &'a str,
    /// The new commit.
    pub(crate) new: Oid,
    /// `Some(id)`: update only if the ref is at `id` (fast-forward of the base). `None`: replace
    /// whatever the ref holds (a promotion branch, owned by Sealift).
    pub(crate) expected: Option<Oid>,
}

/// Where the time of one push went, and what it sent.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PushStats {
    /// Ref discovery (`GET info/refs`).
    pub(crate) discover: Duration,
    /// Building the pack.
    pub(crate) pack: Duration,
    /// Sending it and waiting for the verdict (`POST git-receive-pack`).
    pub(crate) send: Duration,
    /// Objects in the pack.
    pub(crate) objects: usize,
    /// Bytes in the pack.
    pub(crate) pack_bytes: usize,
}

/// Pushes `update` with a pack of `objects` (which must be every object the server may lack),
/// after ref discovery unless `discovered` is still current. `RemoteError::Unsupported` means
/// the server needs something this client does not do; the caller then pushes with libgit2.
pub(crate) fn push(
    repo: &Repository,
    url: &str,
    creds: &GitCredentials,
    discovered: Option<Server>,
    objects: &[Oid],
    update: &RefUpdate<'_>,
) -> Result<PushStats, RemoteError> {
    let mut stats = PushStats::default();
    let client = client()?;

    let server = match discovered {
        Some(server) => server,
        None => {
            let t = Instant::now();
            let server = discover(&client, url, creds)?;
            stats.discover = t.elapsed();
            server
        }
    };

    let current = server.adv.target(update.refname).unwrap_or(Oid::ZERO_SHA1);
    if current == update.new {
        return Ok(stats);
    }
    let old = match update.expected {
        None => current,
        Some(expected) if expected == current => expected,
        // Known to be stale before anything is sent: the same verdict the server would give.
        Some(expected) => {
            return Err(RemoteError::Rejected {
                refname: update.refname.to_owned(),
                message: format!("stale info: the branch is at {current}, not at {expected}"),
            });
        }
    };

    let t = Instant::now();
    let pack = build_pack(repo, objects).map_err(RemoteError::Git)?;
    stats.pack = t.elapsed();
    stats.objects = objects.len();
    stats.pack_bytes = pack.len();

    let t = Instant::now();
    send_pack(&client, &server, creds, old, update, &pack)?;
    stats.send = t.elapsed();
    Ok(stats)
}

/// A receive-pack endpoint after ref discovery.
pub(crate) struct Server {
    /// The repository URL, after any redirect of the discovery request.
    base: String,
    /// What it advertised.
    pub(crate) adv: Advertisement,
}

/// [`discover`] with the process's client.
pub(crate) fn discover_url(url: &str, creds: &GitCredentials) -> Result<Server, RemoteError> {
    discover(&client()?, url, creds)
}

/// `GET <url>/info/refs?service=git-receive-pack`, checking that this client can serve it.
pub(crate) fn discover(
    client: &Client,
    url: &str,
    creds: &GitCredentials,
) -> Result<Server, RemoteError> {
    let asked = url.trim_end_matches('/');
    let discovery = format!("{asked}/info/refs?service=git-receive-pack");
    let resp = send(authorize(client.get(&discovery), creds))?;
    let base = effective_base(&resp, asked)?;
    let body = read_body(resp, "application/x-git-receive-pack-advertisement")?;
    let adv = Advertisement::parse(&body).map_err(|e| protocol(&e.0))?;
    if let Some(format) = adv.capability_value("object-format")
        && format != "sha1"
    {
        return Err(RemoteError::Unsupported(format!("object format {format}")));
    }
    for needed in ["report-status", "ofs-delta"] {
        if !adv.has(needed) {
            return Err(RemoteError::Unsupported(format!(
                "the server does not offer {needed}"
            )));
        }
    }
    Ok(Server { base, adv })
}

/// `POST <url>/git-receive-pack`: the command `<old> <new> <ref>` and the pack; the server's
/// verdict on the ref decides.
pub(crate) fn send_pack(
    client: &Client,
    server: &Server,
    creds: &GitCredentials,
    old: Oid,
    update: &RefUpdate<'_>,
    pack: &[u8],
) -> Result<(), RemoteError> {
    let sideband = server.adv.has("side-band-64k");
    let mut caps = vec!["report-status"];
    if sideband {
        caps.push("side-band-64k");
    }
    if server.adv.has("quiet") {
        caps.push("quiet");
    }
    let agent = concat!("agent=sealift-gitops/", env!("CARGO_PKG_VERSION"));
    if server.adv.has("agent") {
        caps.push(agent);
    }
    let command = format!(
        "{old} {} {}\0{}\n",
        update.new,
        update.refname,
        caps.join(" ")
    );
    let mut request = Vec::with_capacity(command.len() + 8 + pack.len());
    write_pkt(&mut request, command.as_bytes()).map_err(|e| protocol(&e.0))?;
    write_flush(&mut request);
    request.extend_from_slice(pack);

    let resp = send(
        authorize(
            client.post(format!("{}/git-receive-pack", server.base)),
            creds,
        )
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-git-receive-pack-request",
        )
        .header(
            reqwest::header::ACCEPT,
            "application/x-git-receive-pack-result",
        )
        .body(request),
    )?;
    let body = read_body(resp, "application/x-git-receive-pack-result")?;
    let report = parse_report(&body, sideband).map_err(|e| protocol(&e.0))?;
    let rejected = |message: String| RemoteError::Rejected {
        refname: update.refname.to_owned(),
        message: with_messages(message, &report.messages),
    };
    if let Err(reason) = &report.unpack {
        return Err(rejected(format!(
            "the server could not unpack the push: {reason}"
        )));
    }
    match report.status(update.refname) {
        Some(Ok(())) => Ok(()),
        Some(Err(reason)) => Err(rejected(reason.clone())),
        None => Err(protocol(&format!(
            "the server reported nothing for {}",
            update.refname
        ))),
    }
}

/// The pack of exactly `objects`: no revwalk, deltas only between these objects.
pub(crate) fn build_pack(repo: &Repository, objects: &[Oid]) -> Result<Vec<u8>, git2::Error> {
    let mut builder = repo.packbuilder()?;
    builder.set_threads(1);
    for id in objects {
        builder.insert_object(*id, None)?;
    }
    let mut buf = git2::Buf::new();
    builder.write_buf(&mut buf)?;
    Ok(buf.to_vec())
}

/// One client for the process: connections are reused (discovery and push share one), and the
/// system's TLS roots are loaded once.
pub(crate) fn client() -> Result<Client, RemoteError> {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    // rustls needs one process-wide provider; aws-lc-rs is the one the whole workspace uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30))
        // libgit2, which fetches, uses no proxy either: both halves take the same route.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let from = attempt.previous().first().cloned();
            let discovery = from
                .as_ref()
                .is_some_and(|u| u.path().ends_with("/info/refs"));
            let downgrade = from.as_ref().is_some_and(|u| u.scheme() == "https")
                && attempt.url().scheme() != "https";
            if !discovery {
                attempt.stop()
            } else if downgrade {
                attempt.error("refusing a redirect from https to http")
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| RemoteError::Transport(format!("HTTP client: {}", e.without_url())))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// Adds the credentials, once, up front: basic auth for user + password or token.
fn authorize(req: RequestBuilder, creds: &GitCredentials) -> RequestBuilder {
    match creds {
        GitCredentials::Basic { username, password } => {
            req.basic_auth(username, Some(password.expose()))
        }
        // SSH keys mean nothing to an HTTP server; anonymous sends nothing.
        GitCredentials::Anonymous | GitCredentials::Ssh { .. } => req,
    }
}

/// Sends a request and sorts the status: 2xx passes, 401/403 is an authentication failure.
fn send(req: RequestBuilder) -> Result<Response, RemoteError> {
    let resp = req
        .send()
        .map_err(|e| RemoteError::Transport(error_chain(&e.without_url())))?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(RemoteError::Auth);
    }
    if !status.is_success() {
        return Err(RemoteError::Transport(format!(
            "unexpected HTTP status {status} from {}",
            resp.url().path()
        )));
    }
    Ok(resp)
}

/// The repository URL after any redirect of the discovery request (git posts there too).
fn effective_base(resp: &Response, asked: &str) -> Result<String, RemoteError> {
    let mut url = resp.url().clone();
    url.set_query(None);
    url.set_fragment(None);
    let s = url.as_str();
    match s.strip_suffix("/info/refs") {
        Some(base) => Ok(base.to_owned()),
        None => Err(RemoteError::Transport(format!(
            "{asked} redirected to {} which is not a git repository",
            url.path()
        ))),
    }
}

/// The body of a smart-HTTP answer; any other content type means a server that does not speak
/// the smart protocol (git's "dumb" HTTP cannot be pushed to).
fn read_body(resp: Response, content_type: &str) -> Result<Vec<u8>, RemoteError> {
    let got = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !got.starts_with(content_type) {
        return Err(RemoteError::Transport(format!(
            "the server answered {got:?} instead of {content_type:?}: not a smart-HTTP git server"
        )));
    }
    let mut body = Vec::new();
    resp.take(MAX_RESPONSE)
        .read_to_end(&mut body)
        .map_err(|e| RemoteError::Transport(format!("reading the answer: {e}")))?;
    Ok(body)
}

/// An error with its causes ("error sending request: …: connection refused"), since reqwest's
/// own message names only the outermost one. The URL is left out: it is reported by the caller.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn protocol(msg: &str) -> RemoteError {
    RemoteError::Transport(format!("git protocol: {msg}"))
}

/// Appends the server's hook output (trimmed, bounded) to a rejection reason.
fn with_messages(reason: String, messages: &str) -> String {
    let text: String = messages
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if text.is_empty() {
        return reason;
    }
    let text: String = text.chars().take(500).collect();
    format!("{reason} (server: {text})")
}

#[cfg(test)]
mod tests;
