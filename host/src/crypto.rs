//! Secrets: generation, hashing of bearer credentials, encryption at rest.
//!
//! Tokens and API keys are high-entropy random strings, so they are stored as their SHA-256
//! (a lookup key that reveals nothing). Secrets that must be recovered (webhook signing
//! secrets, smartml API secrets) are encrypted with XChaCha20-Poly1305 under the operator's
//! master key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// Length of the master key in bytes.
pub const MASTER_KEY_BYTES: usize = 32;

/// The operator's master key.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt a stored secret: wrong master key or corrupted data")]
pub struct OpenError;

impl MasterKey {
    /// Parses a base64-encoded 32-byte key.
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| anyhow::anyhow!("master key is not base64: {e}"))?;
        anyhow::ensure!(
            bytes.len() == MASTER_KEY_BYTES,
            "master key must be {MASTER_KEY_BYTES} bytes, got {}",
            bytes.len()
        );
        Ok(MasterKey(
            XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key"),
        ))
    }

    /// A new random key, base64-encoded.
    pub fn generate_base64() -> String {
        B64.encode(random_bytes(MASTER_KEY_BYTES))
    }

    /// Encrypts `plaintext`: a random nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes(24);
        let nonce = XNonce::from_slice(&nonce_bytes);
        let mut out = nonce_bytes.clone();
        out.extend(
            self.0
                .encrypt(nonce, plaintext)
                .expect("encryption cannot fail"),
        );
        out
    }

    /// Decrypts what [`MasterKey::seal`] produced.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        self.0
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| OpenError)
    }

    /// [`MasterKey::open`] for text secrets.
    pub fn open_string(&self, sealed: &[u8]) -> Result<String, OpenError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| OpenError)
    }
}

/// `n` random bytes from the OS-seeded generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// A random alphanumeric string of `len` characters.
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random string of `len` decimal digits.
pub fn random_digits(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The stored form of a bearer credential: SHA-256, hex.
pub fn hash_credential(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.as_bytes()))
}

/// A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", B64.encode(random_bytes(32)))
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let other = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let sealed = key.seal(b"whsec_abc");
        assert_ne!(&sealed[24..], b"whsec_abc");
        assert_eq!(key.open(&sealed).unwrap(), b"whsec_abc");
        assert!(other.open(&sealed).is_err());
        assert!(key.open(&sealed[..10]).is_err());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn generated_credentials_have_their_shapes() {
        assert_eq!(random_alphanumeric(32).len(), 32);
        assert!(random_digits(4).chars().all(|c| c.is_ascii_digit()));
        assert!(new_webhook_secret().starts_with("whsec_"));
        assert_eq!(hash_credential("x").len(), 64);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
