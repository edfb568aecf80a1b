//! Direct TCP transport (MS-SMB2 2.1): each message is preceded by a 4-byte header, a zero
//! byte and a 24-bit big-endian length.

use bytes::BufMut;

/// Why a frame header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first byte is not zero (NetBIOS session message type); NetBIOS session requests
    /// (0x81) are not supported on direct TCP.
    #[error("not a direct-TCP session message (type {0:#x})")]
    NotSessionMessage(u8),
    /// The announced length exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// Zero-length frame.
    #[error("empty frame")]
    Empty,
}

/// Parses a 4-byte transport header into the length of the message that follows, refusing
/// lengths above `max` before any buffer is sized from it.
pub fn parse_frame_header(h: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let [kind, a, b, c] = h;
    if kind != 0 {
        return Err(FrameError::NotSessionMessage(kind));
    }
    let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Writes the transport header for a message of `len` bytes (`len` < 2^24).
pub fn put_frame_header(out: &mut impl BufMut, len: usize) {
    let l = u32::try_from(len).unwrap_or(0x00FF_FFFF).min(0x00FF_FFFF);
    out.put_u32(l);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_bounded() {
        assert_eq!(parse_frame_header([0, 0, 1, 0], 1 << 20), Ok(256));
        assert_eq!(
            parse_frame_header([0, 0xFF, 0xFF, 0xFF], 1 << 20),
            Err(FrameError::TooLarge {
                len: 0xFF_FFFF,
                max: 1 << 20
            })
        );
        assert_eq!(
            parse_frame_header([0x81, 0, 0, 4], 100),
            Err(FrameError::NotSessionMessage(0x81))
        );
        let mut v = Vec::new();
        put_frame_header(&mut v, 0x012345);
        assert_eq!(v, [0, 1, 0x23, 0x45]);
    }
}
