//! GitHub App authentication: a JWT signed with the app's private key (RS256) is exchanged for an
//! installation token, which is cached and minted again before it expires.
//!
//! <https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app>

use crate::error::ForgeError;
use crate::http::{ApiRequest, Http, ResolvedAuth};
use crate::secret::SecretString;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use std::fmt;
use std::time::Duration;
use tokio::sync::Mutex;

/// Mint a new installation token when the cached one expires within this margin (tokens live one
/// hour; a request must not start with a token that dies in flight).
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// GitHub rejects JWTs whose `exp` is more than 10 minutes after `iat`; `iat` is back-dated 60 s
/// against clock drift, as GitHub recommends.
const JWT_BACKDATE_SECS: i64 = 60;
const JWT_LIFETIME_SECS: i64 = 9 * 60;

pub(crate) struct AppAuth {
    app_id: String,
    installation_id: u64,
    key: KeyPair,
    cached: Mutex<Option<Installation>>,
}

struct Installation {
    token: SecretString,
    expires_at: i64,
}

impl fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl AppAuth {
    pub(crate) fn new(
        app_id: &str,
        installation_id: u64,
        private_key_pem: &SecretString,
    ) -> Result<Self, ForgeError> {
        if app_id.trim().is_empty() {
            return Err(ForgeError::config("GitHub App: appId is empty"));
        }
        let der = pem_to_der(private_key_pem.expose_secret())?;
        // GitHub hands out PKCS#1 (`BEGIN RSA PRIVATE KEY`); converted keys are PKCS#8.
        let key = KeyPair::from_der(&der)
            .or_else(|_| KeyPair::from_pkcs8(&der))
            .map_err(|_| {
                ForgeError::config(
                    "GitHub App: privateKey is not an RSA private key (PKCS#1 or PKCS#8 PEM)",
                )
            })?;
        Ok(Self {
            app_id: app_id.trim().to_owned(),
            installation_id,
            key,
            cached: Mutex::new(None),
        })
    }

    /// `<app>-<installation>`: which quota the installation token spends.
    pub(crate) fn quota_id(&self) -> String {
        format!("app-{}-{}", self.app_id, self.installation_id)
    }

    /// The app's JWT, valid for nine minutes from `now` (Unix seconds).
    pub(crate) fn jwt(&self, now: i64) -> Result<SecretString, ForgeError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let iat = now - JWT_BACKDATE_SECS;
        let claims = serde_json::json!({
            "iat": iat,
            "exp": now + JWT_LIFETIME_SECS,
            "iss": self.app_id,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ForgeError::config("GitHub App: signing the JWT failed"))?;
        Ok(SecretString::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }

    /// A valid installation token, minted when the cached one is missing or about to expire.
    /// Concurrent callers wait for one exchange instead of each minting a token.
    pub(crate) async fn installation_token(&self, http: &Http) -> Result<SecretString, ForgeError> {
        let mut cached = self.cached.lock().await;
        let now = http.clock().unix_now();
        let margin = i64::try_from(REFRESH_MARGIN.as_secs()).unwrap_or(300);
        if let Some(current) = cached.as_ref()
            && current.expires_at - now > margin
        {
            return Ok(current.token.clone());
        }
        let jwt = self.jwt(now)?;
        let installation = self.installation_id.to_string();
        let req = ApiRequest::new(
            Method::POST,
            "apps/create-installation-access-token",
            &[
                "app",
                "installations",
                installation.as_str(),
                "access_tokens",
            ],
        );
        let resp = http
            .execute_with(&req, &ResolvedAuth::bearer(&jwt)?)
            .await?;
        let minted: super::wire::InstallationToken = resp.expect(
            &[201],
            &format!("GitHub App installation {}", self.installation_id),
        )?;
        let expires_at = chrono::DateTime::parse_from_rfc3339(&minted.expires_at)
            .map_err(|_| ForgeError::InvalidResponse {
                forge: http.forge,
                operation: req.operation,
                detail: "expires_at is not an RFC 3339 time".into(),
            })?
            .timestamp();
        let token = SecretString::new(minted.token);
        tracing::info!(
            installation = self.installation_id,
            expires_at,
            "minted a GitHub App installation token"
        );
        *cached = Some(Installation {
            token: token.clone(),
            expires_at,
        });
        Ok(token)
    }

    /// Forgets the cached token (after GitHub rejected it).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, ForgeError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    if body.is_empty() || !pem.contains("PRIVATE KEY-----") {
        return Err(ForgeError::config(
            "GitHub App: privateKey is not a PEM private key",
        ));
    }
    STANDARD
        .decode(body)
        .map_err(|_| ForgeError::config("GitHub App: privateKey PEM is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    fn pem(der: &[u8]) -> SecretString {
        SecretString::new(format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        ))
    }

    #[test]
    fn the_jwt_is_rs256_signed_and_lives_under_ten_minutes() {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).unwrap();
        let app = AppAuth::new("12345", 7, &pem(der.as_ref())).unwrap();
        let jwt = app.jwt(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.expose_secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "12345");
        assert_eq!(claims["iat"], 1_700_000_000 - 60);
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime <= 600, "{lifetime}");
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref())
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn a_private_key_that_is_not_rsa_pem_is_a_config_error_that_does_not_echo_it() {
        let err = AppAuth::new("1", 1, &SecretString::new("not a key at all")).unwrap_err();
        assert_eq!(err.category(), "config");
        assert!(!err.to_string().contains("not a key at all"));
    }
}
