//! Errors of the codecs. Both are caused by the peer (malformed input), never by shoal.

/// Malformed or truncated XDR / RPC input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("truncated input: needed {needed} bytes, {remaining} remain")]
    Truncated {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A variable-length item claims more than its XDR bound allows.
    #[error("length {len} exceeds the limit {max}")]
    TooLong {
        /// Length from the wire.
        len: u32,
        /// Limit of this item.
        max: u32,
    },
    /// A discriminant or boolean has a value the spec does not define.
    #[error("invalid {what}: {value}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// Bytes remained after the arguments of a procedure.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
}

/// Record-marking failures: the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A record (all fragments so far plus this one) exceeds the configured cap.
    #[error("record of at least {len} bytes exceeds the cap of {max}")]
    RecordTooLarge {
        /// Size the record would reach.
        len: u64,
        /// Configured cap.
        max: usize,
    },
    /// Too many fragments in one record (empty fragments cannot loop forever).
    #[error("more than {0} fragments in one record")]
    TooManyFragments(usize),
}
