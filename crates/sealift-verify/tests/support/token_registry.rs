//! The real registry (CNCF distribution) configured for the distribution token flow, and a small
//! token server on loopback that issues ES256 JWTs (`x5c` header, chained to the registry's
//! `rootcertbundle`), as Docker Hub's or Harbor's token services do.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use rcgen::{CertificateParams, KeyPair, SigningKey as _};
use sealift_testrig::process::{Server, free_port, http_status, with_port_retries};
use sealift_testrig::tools::system_binary;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub const SERVICE: &str = "sealift-test-registry";
const ISSUER: &str = "sealift-test-token-issuer";

/// A registry that accepts only bearer tokens from its token server.
pub struct TokenRegistry {
    _server: Server,
    _dir: tempfile_dir::Dir,
    pub port: u16,
    pub username: String,
    pub password: String,
    /// How many tokens the token server issued.
    pub issued: Arc<AtomicU64>,
}

mod tempfile_dir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TokenRegistry {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn start() -> TokenRegistry {
        sealift_testrig::install_crypto_provider();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sealift token signer");
        let cert = params.self_signed(&key).unwrap();
        let username = "sealift".to_owned();
        let password = super::rand_suffix();
        let issued = Arc::new(AtomicU64::new(0));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let token_port = listener.local_addr().unwrap().port();
        let state = Arc::new((
            key,
            cert.der().to_vec(),
            username.clone(),
            password.clone(),
            issued.clone(),
        ));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut n = 0;
                    while n < buf.len() {
                        match stream.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(m) => n += m,
                        }
                        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    let response =
                        answer(&request, &state.0, &state.1, &state.2, &state.3, &state.4);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });

        let dir =
            std::env::temp_dir().join(format!("sealift-token-registry-{}", super::rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("root.pem"), cert.pem()).unwrap();
        let bin = system_binary("docker-registry").unwrap();
        let (server, port) = with_port_retries(|| {
            let port = free_port()?;
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {root}\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: sealift-test-{port}\n\
                 auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: {SERVICE}\n    \
                 issuer: {ISSUER}\n    rootcertbundle: {bundle}\n",
                root = dir.join("data").display(),
                bundle = dir.join("root.pem").display(),
            );
            let config_path = dir.join(format!("config-{port}.yml"));
            std::fs::write(&config_path, config)?;
            let server = Server::spawn(
                "docker-registry (token auth)",
                &bin,
                &["serve".to_owned(), config_path.display().to_string()],
                &dir.join("registry.log"),
            )?;
            server.wait_until("serving /v2/", Duration::from_secs(10), || {
                matches!(http_status(port, "/v2/"), Some(200 | 401))
            })?;
            Ok((server, port))
        })
        .unwrap();
        TokenRegistry {
            _server: server,
            _dir: tempfile_dir::Dir(dir),
            port,
            username,
            password,
            issued,
        }
    }
}

fn answer(
    request: &str,
    key: &KeyPair,
    cert_der: &[u8],
    user: &str,
    password: &str,
    issued: &AtomicU64,
) -> String {
    let expected = format!("Basic {}", B64.encode(format!("{user}:{password}")));
    let authorized = request.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("authorization:") && l[14..].trim() == expected
    });
    if !authorized {
        return "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_owned();
    }
    let path = request.split_whitespace().nth(1).unwrap_or_default();
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let mut access = Vec::new();
    for pair in query.split('&') {
        if let Some(scope) = pair.strip_prefix("scope=") {
            let scope = scope
                .replace("%3A", ":")
                .replace("%2F", "/")
                .replace("%2C", ",");
            let parts: Vec<&str> = scope.split(':').collect();
            if parts.len() == 3 {
                access.push(json!({"type": parts[0], "name": parts[1],
                                   "actions": parts[2].split(',').collect::<Vec<_>>()}));
            }
        }
    }
    let now = chrono::Utc::now().timestamp();
    let header = json!({"alg": "ES256", "typ": "JWT", "x5c": [B64.encode(cert_der)]});
    let claims = json!({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                        "iat": now, "jti": super::rand_suffix(), "access": access});
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let der = key.sign(signing_input.as_bytes()).unwrap();
    let token = format!("{signing_input}.{}", B64URL.encode(der_to_raw(&der)));
    issued.fetch_add(1, Ordering::Relaxed);
    let body = json!({"token": token, "expires_in": 300}).to_string();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// ECDSA signature: ASN.1 `SEQUENCE { r INTEGER, s INTEGER }` → JWS's 64-byte `r || s`.
fn der_to_raw(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut i = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.iter().take_while(|b| **b == 0).count()..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}
