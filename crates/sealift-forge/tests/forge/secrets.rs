//! Tokens never appear in errors, in `Debug` output or in logs — not even when a forge echoes
//! them back in an error message.

use super::gitea::{Gt, TOKEN as GT_TOKEN};
use super::github::{Gh, TOKEN as GH_TOKEN};
use super::gitlab::{Gl, TOKEN as GL_TOKEN};
use super::server::Reply;
use super::*;
use sealift_forge::{Credentials, ForgeError, SecretString, connect};
use serde_json::json;
use std::io::Write;
use std::sync::Mutex;

fn assert_clean(err: &ForgeError, secrets: &[&str]) {
    let shown = format!("{err} {err:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "secret leaked: {shown}");
    }
}

#[tokio::test]
async fn an_error_after_a_401_does_not_contain_the_token_on_any_forge() {
    let wrong = "ghp_WrongTokenWrongTokenWrongToken1234";
    let gh = Gh::start().await;
    let forge = connect(gh.config(Credentials::Token(SecretString::new(wrong)))).unwrap();
    let err = forge.find_open(HEAD, BASE).await.unwrap_err();
    assert_eq!(err.category(), "unauthorized");
    assert_clean(&err, &[wrong, GH_TOKEN]);

    let gl = Gl::start().await;
    gl.standin.fail_next(
        "getApiV4ProjectsIdMergeRequests",
        1,
        Reply::json(
            401,
            json!({"message": format!("401 Unauthorized: token {GL_TOKEN} was revoked")}),
        ),
    );
    let err = gl.forge().find_open(HEAD, BASE).await.unwrap_err();
    assert_eq!(err.category(), "unauthorized");
    assert_clean(&err, &[GL_TOKEN]);

    for flavor in [ForgeKind::Gitea, ForgeKind::Forgejo] {
        let gt = Gt::start(flavor).await;
        let forge = connect(gt.config(Credentials::Token(SecretString::new(
            "0000wrong0000wrong0000",
        ))))
        .unwrap();
        let err = forge.get(1).await.unwrap_err();
        assert_eq!(err.category(), "unauthorized", "{flavor}");
        assert_clean(&err, &["0000wrong0000wrong0000", GT_TOKEN]);
    }
}

#[tokio::test]
async fn a_forge_message_that_echoes_the_token_is_scrubbed() {
    let gh = Gh::start().await;
    gh.standin.fail_next(
        "pulls/create",
        1,
        Reply::json(403, json!({"message": format!("token {GH_TOKEN} lacks pull_requests:write (also saw ghs_someOtherInstallationToken99)"), "documentation_url": "https://docs.github.com/rest"})),
    );
    let err = gh.forge().open(&gh.new_pull()).await.unwrap_err();
    assert_eq!(err.category(), "forbidden");
    assert!(
        err.to_string().contains("lacks pull_requests:write"),
        "{err}"
    );
    assert_clean(&err, &[GH_TOKEN, "ghs_someOtherInstallationToken99"]);

    let gt = Gt::start(ForgeKind::Forgejo).await;
    gt.standin.fail_next(
        "repoCreatePullRequest",
        1,
        Reply::json(
            422,
            json!({"message": format!("bad request from {GT_TOKEN}"), "url": "x"}),
        ),
    );
    let err = gt.forge().open(&gt.new_pull()).await.unwrap_err();
    assert_eq!(err.category(), "rejected");
    assert_clean(&err, &[GT_TOKEN]);
}

#[tokio::test]
async fn debug_output_of_configurations_and_forges_never_shows_credentials() {
    let gh = Gh::start().await;
    let config = gh.config(Credentials::Token(SecretString::new(GH_TOKEN)));
    let forge = connect(config.clone()).unwrap();
    let shown = format!("{config:?} {forge:?}");
    assert!(!shown.contains(GH_TOKEN), "{shown}");
    assert!(
        shown.contains("acme"),
        "the Debug output is still useful: {shown}"
    );
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything at TRACE, from every crate (reqwest and hyper included) and every test of this
/// binary: a process-wide subscriber, because tracing caches per-callsite interest globally and a
/// thread-local one misses events whose callsites other tests registered first.
fn captured_logs() -> Buffer {
    static LOGS: std::sync::OnceLock<Buffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buffer
    })
    .clone()
}

#[tokio::test]
async fn tokens_never_appear_in_logs() {
    let buffer = captured_logs();
    let gh = Gh::start().await;
    let forge = gh.forge();
    forge.open(&gh.new_pull()).await.unwrap();
    gh.standin.fail_next(
        "pulls/get",
        1,
        Reply::json(503, json!({"message": format!("echo {GH_TOKEN}")})),
    );
    forge.get(1).await.unwrap();
    let wrong = "ghp_AnotherWrongTokenForTheLogsTest000";
    let _ = connect(gh.config(Credentials::Token(SecretString::new(wrong))))
        .unwrap()
        .get(1)
        .await;
    let gl = Gl::start().await;
    gl.forge().open(&gl.new_pull()).await.unwrap();

    let logs = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    assert!(logs.contains("forge request"), "the logs were captured");
    assert!(
        logs.contains("forge server error; retrying"),
        "the retry was logged"
    );
    for secret in [GH_TOKEN, wrong, GL_TOKEN] {
        assert!(!logs.contains(secret), "{secret} found in the logs");
    }
}
