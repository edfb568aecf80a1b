//! Errors of the auth crate, split by cause.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The user database failed (shoal's side).
    #[error("user database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The user database file could not be created or given its mode.
    #[error("user database file: {0}")]
    File(#[from] std::io::Error),
    /// A user of that name exists.
    #[error("user {0} already exists")]
    UserExists(String),
    /// No user of that name.
    #[error("no such user {0}")]
    NoSuchUser(String),
    /// A name that cannot be a user name.
    #[error("invalid user name {0:?}")]
    InvalidName(String),
    /// A uid or gid already used / not allowed.
    #[error("{0}")]
    InvalidId(String),
    /// A token from the client that does not decode (client's fault).
    #[error("malformed {what}: {why}")]
    Malformed {
        /// Which token.
        what: &'static str,
        /// Why.
        why: &'static str,
    },
    /// The client asked for something refused by policy (LM, NTLMv1, anonymous).
    #[error("refused: {0}")]
    Refused(&'static str),
    /// Wrong password or unknown user.
    #[error("logon failure")]
    LogonFailure,
}

impl AuthError {
    /// True when the client caused it.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            AuthError::Malformed { .. } | AuthError::Refused(_) | AuthError::LogonFailure
        )
    }
}
