//! Portal sessions: who a portal page is for, sealed into the URL's token.
//!
//! A session is minted only from a verified credential (the sign-in form, which resolves it
//! like any REST request) or by an authenticated provider or tenant (`POST
//! /public/v1/portal-sessions`, for a marketplace to embed). It is sealed with the master key
//! (XChaCha20-Poly1305: nobody without the key can read or forge one), so every instance of a
//! cluster opens what another minted, and nothing is kept on the server. It carries its expiry;
//! the token travels in the path (`/portal/s/<token>/…`), which works in a cross-site iframe
//! where cookies would be refused and doubles as the pages' CSRF token.

use super::i18n::Locale;
use crate::crypto::MasterKey;
use crate::store::Scope;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

/// Written before the session's JSON, so nothing else sealed with the master key (stored
/// secrets) ever opens as a session.
const PURPOSE: &[u8] = b"hookhost portal session v1\n";

/// Who the portal shows things to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Role {
    /// The operator (signed in with the admin token).
    Operator,
    /// A provider.
    Provider(String),
    /// A tenant.
    Tenant(String),
}

impl Role {
    /// The store's scope of a provider or tenant; `None` for the operator.
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Role::Operator => None,
            Role::Provider(id) => Some(Scope::Provider(id.clone())),
            Role::Tenant(id) => Some(Scope::Tenant(id.clone())),
        }
    }

    /// The role of a provider or tenant scope.
    pub fn of(scope: &Scope) -> Role {
        match scope {
            Scope::Provider(id) => Role::Provider(id.clone()),
            Scope::Tenant(id) => Role::Tenant(id.clone()),
        }
    }
}

/// A signed-in portal visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who.
    pub role: Role,
    /// The pages' language.
    pub locale: Locale,
    /// Unix ms after which the token no longer opens.
    pub expires_at: i64,
}

/// Why a token does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token of this host (garbled, forged, or sealed with another key).
    #[error("this portal link is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("this portal link has expired")]
    Expired,
}

impl Session {
    /// The token of this session.
    pub fn seal(&self, key: &MasterKey) -> String {
        let mut plain = PURPOSE.to_vec();
        plain.extend(serde_json::to_vec(self).expect("serializable"));
        B64URL.encode(key.seal(&plain))
    }

    /// The session sealed in `token`, if it is one of ours and not expired at `now_ms`.
    pub fn open(key: &MasterKey, token: &str, now_ms: i64) -> Result<Session, SessionError> {
        let sealed = B64URL.decode(token).map_err(|_| SessionError::Invalid)?;
        let plain = key.open(&sealed).map_err(|_| SessionError::Invalid)?;
        let json = plain.strip_prefix(PURPOSE).ok_or(SessionError::Invalid)?;
        let session: Session = serde_json::from_slice(json).map_err(|_| SessionError::Invalid)?;
        if session.expires_at <= now_ms {
            return Err(SessionError::Expired);
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64()).unwrap()
    }

    #[test]
    fn a_token_opens_with_its_key_until_it_expires() {
        let key = key();
        let session = Session {
            role: Role::Tenant("TEN-1".into()),
            locale: Locale::De,
            expires_at: 2_000,
        };
        let token = session.seal(&key);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Session::open(&key, &token, 1_999), Ok(session));
        assert_eq!(
            Session::open(&key, &token, 2_000),
            Err(SessionError::Expired)
        );
        assert_eq!(
            Session::open(&self::key(), &token, 0),
            Err(SessionError::Invalid)
        );
        let mut forged = token.into_bytes();
        forged[40] = if forged[40] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(Session::open(&key, &forged, 0), Err(SessionError::Invalid));
    }

    #[test]
    fn other_sealed_secrets_are_no_sessions() {
        let key = key();
        let secret = B64URL
            .encode(key.seal(br#"{"role":{"kind":"operator"},"locale":"en","expires_at":9}"#));
        assert_eq!(Session::open(&key, &secret, 0), Err(SessionError::Invalid));
    }
}
