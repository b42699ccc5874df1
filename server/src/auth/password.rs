//! Passwords: Argon2id hashes made and checked off the async threads, and new random passwords.

use std::sync::LazyLock;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use crate::error::Error;

/// Accepted password lengths, in characters: long enough to mean something, short enough that
/// hashing a pasted novel cannot tie up a core.
pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

/// The Argon2id PHC string of `password` (Argon2's defaults: 19 MiB, 2 passes).
pub async fn hash(password: String) -> Result<String, Error> {
    // Argon2 takes tens of milliseconds of CPU by design: never on an async worker thread.
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| Error::Password(error.to_string()))
    })
    .await
    .map_err(|error| Error::Password(error.to_string()))?
}

/// Whether `password` matches `hash`. `None` for `hash` (no such account, or one without a
/// password) still spends the time of a real check, so the answer's timing tells nothing.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => DUMMY_HASH.clone().map_err(Error::Password)?,
        };
        let parsed =
            PasswordHash::new(&hash).map_err(|error| Error::Password(error.to_string()))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|error| Error::Password(error.to_string()))?
}

/// A hash of a password nobody knows, with the default parameters: checked against when there is
/// no account, to take as long as a real check. Made once, on the blocking thread that first
/// needs it.
static DUMMY_HASH: LazyLock<Result<String, String>> = LazyLock::new(|| {
    let password = generate().map_err(|error| error.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| error.to_string())
});

/// A new random password: 20 characters from an alphabet without look-alikes (about 115 bits).
pub fn generate() -> Result<String, Error> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|error| Error::Password(error.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(
            verify("correct horse battery".to_owned(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("correct horse batterY".to_owned(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!verify(String::new(), None).await.unwrap());
    }

    #[tokio::test]
    async fn without_an_account_nothing_verifies() {
        assert!(!verify("anything".to_owned(), None).await.unwrap());
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.chars().count(), 20);
        assert!(a.chars().count() >= MIN_LENGTH);
        assert_ne!(a, b);
    }
}
