//! Compound requests (MS-SMB2 3.3.5.2.7): a chain of messages linked by NextCommand.

use crate::header::{Header, HEADER_LEN};
use crate::reader::DecodeError;

/// Splits a transport message into the byte ranges of its messages (each range includes the
/// padding before the next message, which signatures cover). At most `max` messages.
pub fn split(buf: &[u8], max: usize) -> Result<Vec<std::ops::Range<usize>>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        if out.len() >= max {
            return Err(DecodeError::Invalid("compound chain too long"));
        }
        let rest = buf.get(pos..).ok_or(DecodeError::Truncated)?;
        let h = Header::decode(rest)?;
        let next = usize::try_from(h.next_command).map_err(|_| DecodeError::OutOfBounds)?;
        if next == 0 {
            out.push(pos..buf.len());
            return Ok(out);
        }
        // MS-SMB2 3.3.5.2.7: NextCommand must be 8-byte aligned and inside the message.
        if next % 8 != 0 || next < HEADER_LEN || next >= rest.len() {
            return Err(DecodeError::OutOfBounds);
        }
        out.push(pos..pos + next);
        pos += next;
    }
}

/// Links responses into a chain: pads every message but the last to 8 bytes and sets its
/// NextCommand. Call before signing.
pub fn link(msgs: &mut [Vec<u8>]) {
    let n = msgs.len();
    for (i, m) in msgs.iter_mut().enumerate() {
        if i + 1 == n {
            break;
        }
        while m.len() % 8 != 0 {
            m.push(0);
        }
        let next = u32::try_from(m.len()).unwrap_or(0).to_le_bytes();
        if let Some(f) = m.get_mut(20..24) {
            f.copy_from_slice(&next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;

    fn msg(next: u32, body: usize) -> Vec<u8> {
        let mut v = Vec::new();
        Header {
            command: Command::ECHO,
            next_command: next,
            ..Header::default()
        }
        .encode(&mut v);
        v.resize(HEADER_LEN + body, 0);
        v
    }

    #[test]
    fn splits_and_refuses_bad_links() {
        let mut buf = msg(72, 8);
        buf.extend(msg(0, 4));
        assert_eq!(split(&buf, 8).unwrap(), vec![0..72, 72..140]);
        let mut bad = msg(70, 8);
        bad.extend(msg(0, 4));
        assert!(split(&bad, 8).is_err());
        let loop_ = msg(200, 8);
        assert!(split(&loop_, 8).is_err());
        assert!(split(&buf, 1).is_err());
    }

    #[test]
    fn link_pads_and_points() {
        let mut v = vec![msg(0, 9), msg(0, 4)];
        link(&mut v);
        assert_eq!(v[0].len(), 80);
        assert_eq!(Header::decode(&v[0]).unwrap().next_command, 80);
    }
}
