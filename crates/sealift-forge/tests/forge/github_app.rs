//! GitHub App authentication: JWT (RS256) exchanged for an installation token, reused, minted
//! again before it expires and after GitHub revokes it.

use super::github::Gh;
use super::github_standin::AppSetup;
use super::*;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealift_forge::{Credentials, SecretString, connect};

const APP_ID: &str = "424242";
const INSTALLATION: u64 = 77;

fn pem(label: &str, der: &[u8]) -> SecretString {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    SecretString::new(format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    ))
}

/// PKCS#8 wraps the PKCS#1 `RSAPrivateKey` in an OCTET STRING; GitHub hands out the inner form.
fn pkcs1_from_pkcs8(der: &[u8]) -> Vec<u8> {
    fn tlv(d: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = d[0];
        let (len, hdr) = if d[1] & 0x80 == 0 {
            (d[1] as usize, 2)
        } else {
            let n = (d[1] & 0x7f) as usize;
            (
                d[2..2 + n]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | *b as usize),
                2 + n,
            )
        };
        (tag, &d[hdr..hdr + len], &d[hdr + len..])
    }
    let (_, info, _) = tlv(der);
    let (_, _, rest) = tlv(info); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "OCTET STRING");
    key.to_vec()
}

struct App {
    gh: Gh,
    key: KeyPair,
}

impl App {
    async fn start(ttl_secs: i64) -> Self {
        let gh = Gh::start().await;
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        gh.standin.behaviour().state.lock().unwrap().app = Some(AppSetup {
            app_id: APP_ID.into(),
            installation_id: INSTALLATION,
            public_key: key.public_key().as_ref().to_vec(),
            token_ttl_secs: ttl_secs,
        });
        Self { gh, key }
    }

    fn credentials(&self, key: &KeyPair) -> Credentials {
        let der = AsDer::<Pkcs8V1Der>::as_der(key).unwrap();
        Credentials::GitHubApp {
            app_id: APP_ID.into(),
            installation_id: INSTALLATION,
            private_key: pem("PRIVATE KEY", der.as_ref()),
        }
    }

    fn forge(&self) -> Arc<dyn sealift_forge::Forge> {
        connect(self.gh.config(self.credentials(&self.key))).unwrap()
    }

    fn minted(&self) -> Vec<String> {
        self.gh
            .standin
            .behaviour()
            .state
            .lock()
            .unwrap()
            .minted
            .clone()
    }
}

#[tokio::test]
async fn an_installation_token_is_minted_with_a_signed_jwt_and_reused() {
    let app = App::start(3600).await;
    let forge = app.forge();
    forge.find_open(HEAD, BASE).await.unwrap();
    forge.find_open(HEAD, BASE).await.unwrap();
    let minted = app.minted();
    assert_eq!(minted.len(), 1);
    let mint = &app
        .gh
        .standin
        .calls("apps/create-installation-access-token")[0];
    assert_eq!(
        (mint.status, mint.request.path.as_str()),
        (201, "/app/installations/77/access_tokens")
    );
    for list in app.gh.standin.calls("pulls/list") {
        assert_eq!(
            list.request.header("authorization"),
            Some(format!("Bearer {}", minted[0]).as_str())
        );
    }
    app.gh.standin.assert_clean().unwrap();
}

#[tokio::test]
async fn the_installation_token_is_minted_again_before_it_expires() {
    let app = App::start(3600).await;
    let forge = app.forge();
    forge.find_open(HEAD, BASE).await.unwrap();
    app.gh.clock.advance(Duration::from_secs(50 * 60));
    forge.find_open(HEAD, BASE).await.unwrap();
    assert_eq!(
        app.minted().len(),
        1,
        "50 minutes in, the token still has 10 minutes"
    );
    app.gh.clock.advance(Duration::from_secs(6 * 60));
    forge.find_open(HEAD, BASE).await.unwrap();
    assert_eq!(
        app.minted().len(),
        2,
        "within 5 minutes of expiry a new token is minted first"
    );
    assert!(
        app.gh.standin.exchanges().iter().all(|e| e.status != 401),
        "no request ever used an expired token"
    );
}

#[tokio::test]
async fn a_revoked_installation_token_is_minted_again_once() {
    let app = App::start(3600).await;
    let forge = app.forge();
    forge.find_open(HEAD, BASE).await.unwrap();
    app.gh
        .standin
        .behaviour()
        .state
        .lock()
        .unwrap()
        .tokens
        .retain(|(t, _)| !t.starts_with("ghs_"));
    forge.find_open(HEAD, BASE).await.unwrap();
    assert_eq!(app.minted().len(), 2);
    let statuses: Vec<u16> = app
        .gh
        .standin
        .calls("pulls/list")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn a_key_github_does_not_know_is_unauthorized() {
    let app = App::start(3600).await;
    let stranger = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let forge = connect(app.gh.config(app.credentials(&stranger))).unwrap();
    let err = forge.find_open(HEAD, BASE).await.unwrap_err();
    assert_eq!(err.category(), "unauthorized");
    assert!(app.minted().is_empty());
    assert!(app.gh.standin.calls("pulls/list").is_empty());
}

#[tokio::test]
async fn a_pkcs1_private_key_as_github_issues_it_is_accepted() {
    let app = App::start(3600).await;
    let der = AsDer::<Pkcs8V1Der>::as_der(&app.key).unwrap();
    let credentials = Credentials::GitHubApp {
        app_id: APP_ID.into(),
        installation_id: INSTALLATION,
        private_key: pem("RSA PRIVATE KEY", &pkcs1_from_pkcs8(der.as_ref())),
    };
    connect(app.gh.config(credentials))
        .unwrap()
        .find_open(HEAD, BASE)
        .await
        .unwrap();
    assert_eq!(app.minted().len(), 1);
}
