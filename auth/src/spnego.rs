//! SPNEGO (RFC 4178, MS-SPNG) tokens around NTLMSSP: a minimal bounded DER reader and the
//! encoders the server needs.

use crate::AuthError;

/// OID 1.3.6.1.5.5.2 (SPNEGO), DER content bytes.
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// OID 1.3.6.1.4.1.311.2.2.10 (NTLMSSP), DER content bytes.
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// negState values (RFC 4178 4.2.2).
pub mod neg_state {
    /// accept-completed.
    pub const ACCEPT_COMPLETED: u8 = 0;
    /// accept-incomplete.
    pub const ACCEPT_INCOMPLETE: u8 = 1;
    /// reject.
    pub const REJECT: u8 = 2;
}

fn malformed(why: &'static str) -> AuthError {
    AuthError::Malformed {
        what: "SPNEGO token",
        why,
    }
}

/// One DER TLV: tag, content, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// Reads one TLV from the front of `b`, returning it and the rest. Lengths are checked against
/// what remains; long-form lengths of more than 4 bytes are refused.
fn tlv(b: &[u8]) -> Result<(Tlv<'_>, &[u8]), AuthError> {
    let tag = *b.first().ok_or(malformed("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(malformed("high tag number"));
    }
    let first = *b.get(1).ok_or(malformed("truncated"))?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2usize)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(malformed("bad length"));
        }
        let bytes = b.get(2..2 + n).ok_or(malformed("truncated"))?;
        let len = bytes.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x));
        (len, 2 + n)
    };
    let end = hdr.checked_add(len).ok_or(malformed("bad length"))?;
    let content = b.get(hdr..end).ok_or(malformed("length past end"))?;
    let whole = b.get(..end).ok_or(malformed("length past end"))?;
    Ok((
        Tlv {
            tag,
            content,
            whole,
        },
        b.get(end..).unwrap_or(&[]),
    ))
}

/// Reads a TLV that must have `tag`.
fn expect(b: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), AuthError> {
    let (t, rest) = tlv(b)?;
    if t.tag != tag {
        return Err(malformed("unexpected tag"));
    }
    Ok((t, rest))
}

/// A decoded SPNEGO token from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientToken {
    /// NegTokenInit: offered mechanisms and an optimistic token.
    Init {
        /// OIDs offered (DER content bytes).
        mech_types: Vec<Vec<u8>>,
        /// The DER encoding of the MechTypeList (what the mechListMIC covers).
        mech_types_der: Vec<u8>,
        /// First token of the preferred mechanism.
        mech_token: Option<Vec<u8>>,
    },
    /// NegTokenResp: a continuation.
    Resp {
        /// responseToken.
        response_token: Option<Vec<u8>>,
        /// mechListMIC.
        mech_list_mic: Option<Vec<u8>>,
    },
    /// A bare NTLMSSP token (no SPNEGO wrapping).
    RawNtlmssp(Vec<u8>),
}

/// Decodes a client's security token.
pub fn decode_client_token(token: &[u8]) -> Result<ClientToken, AuthError> {
    if token.starts_with(b"NTLMSSP\0") {
        return Ok(ClientToken::RawNtlmssp(token.to_vec()));
    }
    let (outer, _) = tlv(token)?;
    match outer.tag {
        0x60 => {
            // [APPLICATION 0] { thisMech OID, innerContextToken [0] NegTokenInit }
            let (oid, rest) = expect(outer.content, 0x06)?;
            if oid.content != OID_SPNEGO {
                return Err(malformed("not SPNEGO"));
            }
            let (init, _) = expect(rest, 0xa0)?;
            let (seq, _) = expect(init.content, 0x30)?;
            let mut fields = seq.content;
            let mut mech_types = Vec::new();
            let mut mech_types_der = Vec::new();
            let mut mech_token = None;
            while !fields.is_empty() {
                let (f, rest) = tlv(fields)?;
                fields = rest;
                match f.tag {
                    0xa0 => {
                        let (list, _) = expect(f.content, 0x30)?;
                        mech_types_der = list.whole.to_vec();
                        let mut items = list.content;
                        while !items.is_empty() {
                            let (oid, rest) = expect(items, 0x06)?;
                            items = rest;
                            mech_types.push(oid.content.to_vec());
                        }
                    }
                    0xa2 => {
                        let (s, _) = expect(f.content, 0x04)?;
                        mech_token = Some(s.content.to_vec());
                    }
                    _ => {} // reqFlags, negHints, mechListMIC: not used
                }
            }
            Ok(ClientToken::Init {
                mech_types,
                mech_types_der,
                mech_token,
            })
        }
        0xa1 => {
            let (seq, _) = expect(outer.content, 0x30)?;
            let mut fields = seq.content;
            let mut response_token = None;
            let mut mech_list_mic = None;
            while !fields.is_empty() {
                let (f, rest) = tlv(fields)?;
                fields = rest;
                match f.tag {
                    0xa2 => response_token = Some(expect(f.content, 0x04)?.0.content.to_vec()),
                    0xa3 => mech_list_mic = Some(expect(f.content, 0x04)?.0.content.to_vec()),
                    _ => {}
                }
            }
            Ok(ClientToken::Resp {
                response_token,
                mech_list_mic,
            })
        }
        _ => Err(malformed("neither NegTokenInit nor NegTokenResp")),
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else if len < 0x100 {
        out.push(0x81);
        out.push(u8::try_from(len).unwrap_or(0));
    } else if len < 0x1_0000 {
        out.push(0x82);
        out.extend_from_slice(&u16::try_from(len).unwrap_or(0).to_be_bytes());
    } else {
        out.push(0x83);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes()[1..]);
    }
}

fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    put_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// DER of the MechTypeList the server offers (`SEQUENCE OF OID`: NTLMSSP).
pub fn server_mech_types_der() -> Vec<u8> {
    wrap(0x30, &wrap(0x06, OID_NTLMSSP))
}

/// The NegTokenInit the server puts in its NEGOTIATE response (MS-SPNG 3.2.5.2): mechTypes
/// with NTLMSSP and the customary negHints.
pub fn encode_server_init() -> Vec<u8> {
    let hints = wrap(
        0x30,
        &wrap(0xa0, &wrap(0x1b, b"not_defined_in_RFC4178@please_ignore")),
    );
    let mut seq = wrap(0xa0, &server_mech_types_der());
    seq.extend(wrap(0xa3, &hints));
    let init = wrap(0xa0, &wrap(0x30, &seq));
    let mut inner = wrap(0x06, OID_SPNEGO);
    inner.extend(init);
    wrap(0x60, &inner)
}

/// A NegTokenResp (RFC 4178 4.2.2).
pub fn encode_resp(
    state: u8,
    supported_mech: bool,
    response_token: Option<&[u8]>,
    mic: Option<&[u8]>,
) -> Vec<u8> {
    let mut seq = wrap(0xa0, &wrap(0x0a, &[state]));
    if supported_mech {
        seq.extend(wrap(0xa1, &wrap(0x06, OID_NTLMSSP)));
    }
    if let Some(t) = response_token {
        seq.extend(wrap(0xa2, &wrap(0x04, t)));
    }
    if let Some(m) = mic {
        seq.extend(wrap(0xa3, &wrap(0x04, m)));
    }
    wrap(0xa1, &wrap(0x30, &seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn decodes_the_init_from_the_ms_preauth_example() {
        // Security buffer of the first SESSION_SETUP request in Microsoft's 3.1.1 example.
        let t = hex("604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000000F");
        match decode_client_token(&t).unwrap() {
            ClientToken::Init {
                mech_types,
                mech_types_der,
                mech_token,
            } => {
                assert_eq!(mech_types, vec![OID_NTLMSSP.to_vec()]);
                assert_eq!(mech_types_der, server_mech_types_der());
                assert!(mech_token.unwrap().starts_with(b"NTLMSSP\0"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resp_round_trips_and_lengths_are_bounded() {
        let big = vec![7u8; 300];
        let r = encode_resp(
            neg_state::ACCEPT_INCOMPLETE,
            false,
            Some(&big),
            Some(&[1; 16]),
        );
        assert_eq!(
            decode_client_token(&r).unwrap(),
            ClientToken::Resp {
                response_token: Some(big),
                mech_list_mic: Some(vec![1; 16])
            }
        );
        assert!(decode_client_token(&r[..r.len() - 1]).is_err());
        assert!(decode_client_token(&[0xa1, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_client_token(&[0xa1, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert!(decode_client_token(&[]).is_err());
        let init = encode_server_init();
        assert_eq!(init[0], 0x60);
    }
}
