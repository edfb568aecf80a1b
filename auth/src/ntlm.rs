//! NTLMSSP server side (MS-NLMP), sans-IO.
//!
//! [`Challenger::challenge`] answers a NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE (the server
//! challenge and timestamp are passed in); [`AuthenticateMessage::decode`] reads the client's
//! AUTHENTICATE_MESSAGE; [`Challenger::verify`] checks its NTLMv2 response against the user's
//! NT hash and yields the exported session key. LM and NTLMv1 responses are refused
//! (MS-NLMP 3.3.1 is not accepted); the AUTHENTICATE MIC is checked when the client says it
//! sent one (MsvAvFlags bit 0x2, MS-NLMP 3.2.5.1.2 / 3.3.2).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rc4::{KeyInit, Rc4, StreamCipher};

use crate::AuthError;

type HmacMd5 = Hmac<Md5>;

/// "NTLMSSP\0".
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NegotiateFlags (MS-NLMP 2.2.2.5).
pub mod flags {
    /// Unicode strings.
    pub const UNICODE: u32 = 0x0000_0001;
    /// OEM strings.
    pub const OEM: u32 = 0x0000_0002;
    /// TargetName requested.
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// Signing.
    pub const SIGN: u32 = 0x0000_0010;
    /// Sealing.
    pub const SEAL: u32 = 0x0000_0020;
    /// LM session key (refused).
    pub const LM_KEY: u32 = 0x0000_0080;
    /// NTLM.
    pub const NTLM: u32 = 0x0000_0200;
    /// Anonymous.
    pub const ANONYMOUS: u32 = 0x0000_0800;
    /// Always sign.
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    /// Target is a server.
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    /// Extended session security.
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// TargetInfo present.
    pub const TARGET_INFO: u32 = 0x0080_0000;
    /// Version present.
    pub const VERSION: u32 = 0x0200_0000;
    /// 128-bit keys.
    pub const K128: u32 = 0x2000_0000;
    /// Key exchange.
    pub const KEY_EXCH: u32 = 0x4000_0000;
    /// 56-bit keys.
    pub const K56: u32 = 0x8000_0000;
}

/// AV pair ids (MS-NLMP 2.2.2.1).
mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER_NAME: u16 = 1;
    pub const NB_DOMAIN_NAME: u16 = 2;
    pub const DNS_COMPUTER_NAME: u16 = 3;
    pub const DNS_DOMAIN_NAME: u16 = 4;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
}

fn malformed(why: &'static str) -> AuthError {
    AuthError::Malformed {
        what: "NTLMSSP message",
        why,
    }
}

fn le16(b: &[u8], at: usize) -> Result<u16, AuthError> {
    b.get(at..at + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map(u16::from_le_bytes)
        .ok_or(malformed("truncated"))
}

fn le32(b: &[u8], at: usize) -> Result<u32, AuthError> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
        .ok_or(malformed("truncated"))
}

/// A (Len, MaxLen, Offset) field pointing into the message, checked against its length.
fn field(msg: &[u8], at: usize) -> Result<&[u8], AuthError> {
    let len = usize::from(le16(msg, at)?);
    let off = usize::try_from(le32(msg, at + 4)?).map_err(|_| malformed("offset"))?;
    if len == 0 {
        return Ok(&[]);
    }
    msg.get(off..off.checked_add(len).ok_or(malformed("offset"))?)
        .ok_or(malformed("field outside message"))
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn decode_string(b: &[u8], unicode: bool) -> Result<String, AuthError> {
    if unicode {
        if !b.len().is_multiple_of(2) {
            return Err(malformed("odd UTF-16 length"));
        }
        let units = b
            .chunks_exact(2)
            .map(|c| <[u8; 2]>::try_from(c).map(u16::from_le_bytes).unwrap_or(0));
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| malformed("bad UTF-16"))
    } else {
        Ok(b.iter().map(|c| char::from(*c)).collect())
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length: this cannot fail.
    let mut m = match <HmacMd5 as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 16],
    };
    for p in parts {
        m.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

fn rc4(key: &[u8; 16], data: &mut [u8]) {
    if let Ok(mut c) = Rc4::<rc4::consts::U16>::new_from_slice(key) {
        c.apply_keystream(data);
    }
}

/// Names the server announces in the CHALLENGE_MESSAGE.
#[derive(Clone, Debug)]
pub struct ServerNames {
    /// NetBIOS computer name (upper case).
    pub computer: String,
    /// NetBIOS domain (workgroup) name.
    pub domain: String,
    /// DNS computer name.
    pub dns_computer: String,
    /// DNS domain name.
    pub dns_domain: String,
}

/// Server state between CHALLENGE and AUTHENTICATE.
#[derive(Clone)]
pub struct Challenger {
    server_challenge: [u8; 8],
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    flags: u32,
}

impl std::fmt::Debug for Challenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenger")
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish_non_exhaustive()
    }
}

/// The client's AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3), borrowed.
#[derive(Clone, Debug)]
pub struct AuthenticateMessage<'a> {
    /// The whole message (for the MIC).
    pub raw: &'a [u8],
    /// LmChallengeResponse.
    pub lm_response: &'a [u8],
    /// NtChallengeResponse.
    pub nt_response: &'a [u8],
    /// Domain name.
    pub domain: String,
    /// User name.
    pub user: String,
    /// Workstation.
    pub workstation: String,
    /// EncryptedRandomSessionKey.
    pub encrypted_session_key: &'a [u8],
    /// NegotiateFlags.
    pub flags: u32,
}

/// What a successful verification yields.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    /// ExportedSessionKey (the SMB session key).
    pub session_key: [u8; 16],
    /// Whether the client included a MIC (then SPNEGO needs a mechListMIC exchange).
    pub had_mic: bool,
    /// Negotiated flags.
    pub flags: u32,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("had_mic", &self.had_mic)
            .finish_non_exhaustive()
    }
}

/// Message type of an NTLMSSP token (1, 2 or 3), after checking the signature.
pub fn message_type(token: &[u8]) -> Result<u32, AuthError> {
    if token.get(..8) != Some(&SIGNATURE[..]) {
        return Err(malformed("no NTLMSSP signature"));
    }
    le32(token, 8)
}

impl<'a> AuthenticateMessage<'a> {
    /// Decodes; every field is checked against the message length.
    pub fn decode(msg: &'a [u8]) -> Result<Self, AuthError> {
        if message_type(msg)? != 3 {
            return Err(malformed("not an AUTHENTICATE message"));
        }
        let flags = le32(msg, 60)?;
        let unicode = flags & flags::UNICODE != 0;
        Ok(AuthenticateMessage {
            raw: msg,
            lm_response: field(msg, 12)?,
            nt_response: field(msg, 20)?,
            domain: decode_string(field(msg, 28)?, unicode)?,
            user: decode_string(field(msg, 36)?, unicode)?,
            workstation: decode_string(field(msg, 44)?, unicode)?,
            encrypted_session_key: field(msg, 52)?,
            flags,
        })
    }

    /// True for an anonymous AUTHENTICATE (MS-NLMP 3.2.5.1.2: empty user, empty NT response,
    /// LM response empty or one zero byte).
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty() && self.nt_response.is_empty() && self.lm_response.len() <= 1
    }
}

fn put_field(hdr: &mut Vec<u8>, len: usize, offset: usize) {
    let l = u16::try_from(len).unwrap_or(0);
    hdr.extend_from_slice(&l.to_le_bytes());
    hdr.extend_from_slice(&l.to_le_bytes());
    hdr.extend_from_slice(&u32::try_from(offset).unwrap_or(0).to_le_bytes());
}

fn put_av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(value);
}

impl Challenger {
    /// Answers a NEGOTIATE_MESSAGE (MS-NLMP 3.2.5.1.1) with a CHALLENGE_MESSAGE.
    /// `timestamp` is the current FILETIME; `server_challenge` 8 random bytes.
    pub fn challenge(
        negotiate: &[u8],
        server_challenge: [u8; 8],
        timestamp: u64,
        names: &ServerNames,
    ) -> Result<(Challenger, Vec<u8>), AuthError> {
        if message_type(negotiate)? != 1 {
            return Err(malformed("not a NEGOTIATE message"));
        }
        let client = le32(negotiate, 12)?;
        if client & flags::UNICODE == 0 {
            return Err(AuthError::Refused("OEM-only NTLMSSP client"));
        }
        let flags = flags::UNICODE
            | flags::NTLM
            | flags::REQUEST_TARGET
            | flags::TARGET_TYPE_SERVER
            | flags::TARGET_INFO
            | (client
                & (flags::SIGN
                    | flags::SEAL
                    | flags::ALWAYS_SIGN
                    | flags::EXTENDED_SESSIONSECURITY
                    | flags::VERSION
                    | flags::K128
                    | flags::K56
                    | flags::KEY_EXCH));
        let target_name = utf16le(&names.domain);
        let mut info = Vec::new();
        put_av(&mut info, av::NB_DOMAIN_NAME, &utf16le(&names.domain));
        put_av(&mut info, av::NB_COMPUTER_NAME, &utf16le(&names.computer));
        put_av(&mut info, av::DNS_DOMAIN_NAME, &utf16le(&names.dns_domain));
        put_av(
            &mut info,
            av::DNS_COMPUTER_NAME,
            &utf16le(&names.dns_computer),
        );
        put_av(&mut info, av::TIMESTAMP, &timestamp.to_le_bytes());
        put_av(&mut info, av::EOL, &[]);

        let mut m = Vec::with_capacity(56 + target_name.len() + info.len());
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&2u32.to_le_bytes());
        put_field(&mut m, target_name.len(), 56);
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&server_challenge);
        m.extend_from_slice(&[0; 8]);
        put_field(&mut m, info.len(), 56 + target_name.len());
        // Version: 6.1 build 7601, NTLMSSP revision 15.
        m.extend_from_slice(&[6, 1, 0xB1, 0x1D, 0, 0, 0, 0x0F]);
        m.extend_from_slice(&target_name);
        m.extend_from_slice(&info);
        let c = Challenger {
            server_challenge,
            negotiate: negotiate.to_vec(),
            challenge: m.clone(),
            flags,
        };
        Ok((c, m))
    }

    /// Flags sent in the CHALLENGE.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Verifies an NTLMv2 response (MS-NLMP 3.3.2) with the user's NT hash; returns the
    /// exported session key. LM-only and NTLMv1 (24-byte) responses are refused.
    pub fn verify(
        &self,
        auth: &AuthenticateMessage<'_>,
        nt_hash: &[u8; 16],
    ) -> Result<Verified, AuthError> {
        let nt = auth.nt_response;
        if nt.is_empty() {
            return Err(AuthError::Refused(if auth.lm_response.len() > 1 {
                "LM authentication"
            } else {
                "anonymous"
            }));
        }
        if nt.len() == 24 {
            return Err(AuthError::Refused("NTLMv1 authentication"));
        }
        // NTProofStr (16) + blob header (28) at least.
        if nt.len() < 16 + 28 {
            return Err(malformed("short NTLMv2 response"));
        }
        let (proof, blob) = nt.split_at(16);
        // MS-NLMP 2.2.2.7: the client challenge's AV pairs must be a well-formed list ending in
        // MsvAvEOL; a broken one is a malformed message (as Samba, bug 14932), whatever the
        // password.
        let pairs = blob.get(28..).unwrap_or(&[]);
        if !av_pairs_well_formed(pairs) {
            return Err(malformed(
                "AV pair list of the NTLMv2 response is not terminated",
            ));
        }
        let user_upper = utf16le(&auth.user.to_uppercase());
        let mut domains = vec![auth.domain.clone()];
        for d in [auth.domain.to_uppercase(), String::new()] {
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        let mut found = None;
        for d in &domains {
            let response_key = hmac_md5(nt_hash, &[&user_upper, &utf16le(d)]);
            let expected = hmac_md5(&response_key, &[&self.server_challenge, blob]);
            let diff = expected
                .iter()
                .zip(proof)
                .fold(0u8, |a, (x, y)| a | (x ^ y));
            if diff == 0 {
                found = Some(hmac_md5(&response_key, &[&expected]));
                break;
            }
        }
        let base_key = found.ok_or(AuthError::LogonFailure)?;
        // KXKEY for NTLMv2 is the SessionBaseKey (MS-NLMP 3.4.5.1).
        let mut session_key = base_key;
        if self.flags & auth.flags & flags::KEY_EXCH != 0 && auth.encrypted_session_key.len() == 16
        {
            session_key.copy_from_slice(auth.encrypted_session_key);
            rc4(&base_key, &mut session_key);
        }
        let had_mic = blob_has_mic(pairs);
        if had_mic {
            let mic = auth.raw.get(72..88).ok_or(malformed("no room for MIC"))?;
            let mut zeroed = auth.raw.to_vec();
            if let Some(m) = zeroed.get_mut(72..88) {
                m.fill(0);
            }
            let expected = hmac_md5(&session_key, &[&self.negotiate, &self.challenge, &zeroed]);
            if expected.iter().zip(mic).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
                return Err(AuthError::LogonFailure);
            }
        }
        Ok(Verified {
            session_key,
            had_mic,
            flags: self.flags & auth.flags,
        })
    }
}

/// True when `pairs` is a sequence of AV pairs ending with MsvAvEOL inside the buffer.
fn av_pairs_well_formed(mut pairs: &[u8]) -> bool {
    loop {
        let (Some(id), Some(len)) = (le16(pairs, 0).ok(), le16(pairs, 2).ok()) else {
            return false;
        };
        let len = usize::from(len);
        if id == av::EOL {
            return len == 0;
        }
        match pairs.get(4 + len..) {
            Some(rest) => pairs = rest,
            None => return false,
        }
    }
}

/// True when the AV pairs of an NTLMv2 blob carry MsvAvFlags with the MIC bit (0x2).
fn blob_has_mic(mut pairs: &[u8]) -> bool {
    while pairs.len() >= 4 {
        let id = u16::from_le_bytes([
            pairs.first().copied().unwrap_or(0),
            pairs.get(1).copied().unwrap_or(0),
        ]);
        let len = usize::from(u16::from_le_bytes([
            pairs.get(2).copied().unwrap_or(0),
            pairs.get(3).copied().unwrap_or(0),
        ]));
        let Some(value) = pairs.get(4..4 + len) else {
            return false;
        };
        if id == av::EOL {
            return false;
        }
        if id == av::FLAGS && len == 4 {
            let v = <[u8; 4]>::try_from(value)
                .map(u32::from_le_bytes)
                .unwrap_or(0);
            return v & 0x2 != 0;
        }
        pairs = pairs.get(4 + len..).unwrap_or(&[]);
    }
    false
}

/// NTLM session security for one direction (MS-NLMP 3.4.4.2, with extended session security):
/// used here for the SPNEGO mechListMIC only.
pub struct SessionSecurity {
    sign_key: [u8; 16],
    seal: Option<Rc4<rc4::consts::U16>>,
    seq: u32,
}

const CLIENT_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize());
    out
}

impl SessionSecurity {
    /// Keys for the client-to-server (`client = true`) or server-to-client direction.
    pub fn new(session_key: &[u8; 16], negotiated: u32, client: bool) -> SessionSecurity {
        let sign_key = md5(&[session_key, if client { CLIENT_SIGN } else { SERVER_SIGN }]);
        let base: &[u8] = if negotiated & flags::K128 != 0 {
            session_key
        } else if negotiated & flags::K56 != 0 {
            session_key.get(..7).unwrap_or(session_key)
        } else {
            session_key.get(..5).unwrap_or(session_key)
        };
        let seal_key = md5(&[base, if client { CLIENT_SEAL } else { SERVER_SEAL }]);
        let seal = if negotiated & flags::KEY_EXCH != 0 {
            Rc4::new_from_slice(&seal_key).ok()
        } else {
            None
        };
        SessionSecurity {
            sign_key,
            seal,
            seq: 0,
        }
    }

    /// The 16-byte signature (NTLMSSP_MESSAGE_SIGNATURE) of `data`; advances the sequence.
    pub fn sign(&mut self, data: &[u8]) -> [u8; 16] {
        let seq = self.seq.to_le_bytes();
        let mac = hmac_md5(&self.sign_key, &[&seq, data]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(mac.get(..8).unwrap_or(&[0; 8]));
        if let Some(s) = self.seal.as_mut() {
            s.apply_keystream(&mut checksum);
        }
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&1u32.to_le_bytes());
        out[4..12].copy_from_slice(&checksum);
        out[12..].copy_from_slice(&seq);
        out
    }

    /// Checks a received signature of `data`.
    pub fn verify(&mut self, data: &[u8], signature: &[u8]) -> bool {
        let expected = self.sign(data);
        signature.len() == 16
            && expected
                .iter()
                .zip(signature)
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0
    }
}

#[cfg(test)]
mod tests;
