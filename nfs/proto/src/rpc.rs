//! ONC RPC version 2 message headers (RFC 5531 section 9) and authentication flavors
//! `AUTH_NONE` / `AUTH_SYS` (RFC 5531 section 8.2 and appendix A).

use bytes::BufMut;

use crate::xdr::{Decode, Encode, Reader, XdrWrite};
use crate::DecodeError;

/// The only RPC protocol version (RFC 5531 section 9: `rpcvers` "MUST be equal to 2").
pub const RPC_VERSION: u32 = 2;

/// Longest `opaque_auth` body (RFC 5531 section 8.2: `opaque body<400>`).
pub const MAX_AUTH_BODY: u32 = 400;

/// `msg_type` value of a call.
pub const CALL: u32 = 0;
/// `msg_type` value of a reply.
pub const REPLY: u32 = 1;

wire_enum! {
    /// `auth_flavor` (RFC 5531 section 8.2).
    AuthFlavor {
        /// `AUTH_NONE`.
        NONE = 0,
        /// `AUTH_SYS` (a.k.a. `AUTH_UNIX`).
        SYS = 1,
        /// `AUTH_SHORT`.
        SHORT = 2,
        /// `AUTH_DH`.
        DH = 3,
        /// `RPCSEC_GSS`.
        RPCSEC_GSS = 6,
    }
}

wire_enum! {
    /// `accept_stat` (RFC 5531 section 9).
    AcceptStat {
        /// RPC executed successfully.
        SUCCESS = 0,
        /// Remote hasn't exported the program.
        PROG_UNAVAIL = 1,
        /// Remote can't support the version number.
        PROG_MISMATCH = 2,
        /// Program can't support the procedure.
        PROC_UNAVAIL = 3,
        /// Procedure can't decode the parameters.
        GARBAGE_ARGS = 4,
        /// E.g. a memory allocation failure.
        SYSTEM_ERR = 5,
    }
}

wire_enum! {
    /// `auth_stat` (RFC 5531 section 9).
    AuthStat {
        /// Success.
        AUTH_OK = 0,
        /// Bad credential (seal broken).
        AUTH_BADCRED = 1,
        /// Client must begin a new session.
        AUTH_REJECTEDCRED = 2,
        /// Bad verifier (seal broken).
        AUTH_BADVERF = 3,
        /// Verifier expired or replayed.
        AUTH_REJECTEDVERF = 4,
        /// Rejected for security reasons.
        AUTH_TOOWEAK = 5,
        /// Bogus response verifier.
        AUTH_INVALIDRESP = 6,
        /// Reason unknown.
        AUTH_FAILED = 7,
    }
}

/// `opaque_auth`: a flavor and up to 400 bytes of body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueAuth {
    /// Flavor.
    pub flavor: AuthFlavor,
    /// Body (flavor specific).
    pub body: Vec<u8>,
}

impl OpaqueAuth {
    /// `AUTH_NONE` with an empty body.
    pub fn none() -> OpaqueAuth {
        OpaqueAuth {
            flavor: AuthFlavor::NONE,
            body: Vec::new(),
        }
    }
}

impl Decode for OpaqueAuth {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let flavor = AuthFlavor::decode(r)?;
        let body = r.opaque(MAX_AUTH_BODY)?.to_vec();
        Ok(OpaqueAuth { flavor, body })
    }
}

impl Encode for OpaqueAuth {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.flavor.encode(out);
        out.put_xdr_opaque(&self.body);
    }
}

/// Longest `machinename` in `authsys_parms` (RFC 5531 appendix A: `string machinename<255>`).
pub const MAX_MACHINE_NAME: u32 = 255;
/// Most supplementary groups in `authsys_parms` (`unsigned int gids<16>`).
pub const MAX_AUTH_SYS_GIDS: u32 = 16;

/// `authsys_parms` (RFC 5531 appendix A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSys {
    /// Arbitrary id the caller may generate.
    pub stamp: u32,
    /// Name of the caller's machine.
    pub machine_name: Vec<u8>,
    /// Caller's effective user id.
    pub uid: u32,
    /// Caller's effective group id.
    pub gid: u32,
    /// Supplementary groups.
    pub gids: Vec<u32>,
}

impl Decode for AuthSys {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let stamp = r.u32()?;
        let machine_name = r.opaque(MAX_MACHINE_NAME)?.to_vec();
        let uid = r.u32()?;
        let gid = r.u32()?;
        let gids = r.array(MAX_AUTH_SYS_GIDS, 4)?;
        Ok(AuthSys {
            stamp,
            machine_name,
            uid,
            gid,
            gids,
        })
    }
}

impl Encode for AuthSys {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.stamp);
        out.put_xdr_opaque(&self.machine_name);
        out.put_u32(self.uid);
        out.put_u32(self.gid);
        out.put_u32(self.gids.len() as u32);
        for g in &self.gids {
            out.put_u32(*g);
        }
    }
}

/// The credential of a call, decoded from its `opaque_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `AUTH_NONE`.
    None,
    /// `AUTH_SYS`.
    Sys(AuthSys),
    /// Any other flavor (the server answers `AUTH_ERROR` / `AUTH_BADCRED` or `AUTH_TOOWEAK`).
    Other(AuthFlavor),
}

impl Credential {
    /// Interprets an `opaque_auth`. A malformed `AUTH_SYS` body is a decode error.
    pub fn from_opaque(auth: &OpaqueAuth) -> Result<Credential, DecodeError> {
        match auth.flavor {
            AuthFlavor::NONE => Ok(Credential::None),
            AuthFlavor::SYS => Ok(Credential::Sys(AuthSys::decode_all(&auth.body)?)),
            other => Ok(Credential::Other(other)),
        }
    }
}

/// The header of a call (`rpc_msg` with `mtype == CALL` and its `call_body`, without the
/// procedure arguments, which follow in the same record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHeader {
    /// Transaction id.
    pub xid: u32,
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
    /// Credential.
    pub cred: OpaqueAuth,
    /// Verifier.
    pub verf: OpaqueAuth,
}

/// Why a record could not be read as a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Not even an xid and message type: drop the record.
    Garbage(DecodeError),
    /// A reply, or an unknown message type: ignore it.
    NotACall {
        /// Its xid.
        xid: u32,
    },
    /// `rpcvers != 2`: answer `MSG_DENIED` / `RPC_MISMATCH` (RFC 5531 section 9).
    RpcVersion {
        /// Its xid.
        xid: u32,
    },
    /// The call header is malformed after the xid: answer `MSG_DENIED` / `AUTH_BADCRED`
    /// when it was the credential, otherwise `GARBAGE_ARGS`.
    Malformed {
        /// Its xid.
        xid: u32,
        /// What failed.
        error: DecodeError,
    },
}

impl CallHeader {
    /// Decodes a call header; `r` is left at the first byte of the procedure arguments.
    pub fn decode(r: &mut Reader<'_>) -> Result<CallHeader, CallError> {
        let xid = r.u32().map_err(CallError::Garbage)?;
        let mtype = r.u32().map_err(CallError::Garbage)?;
        if mtype != CALL {
            return Err(CallError::NotACall { xid });
        }
        let malformed = |error| CallError::Malformed { xid, error };
        let rpcvers = r.u32().map_err(malformed)?;
        if rpcvers != RPC_VERSION {
            return Err(CallError::RpcVersion { xid });
        }
        let prog = r.u32().map_err(malformed)?;
        let vers = r.u32().map_err(malformed)?;
        let proc_ = r.u32().map_err(malformed)?;
        let cred = OpaqueAuth::decode(r).map_err(malformed)?;
        let verf = OpaqueAuth::decode(r).map_err(malformed)?;
        Ok(CallHeader {
            xid,
            prog,
            vers,
            proc_,
            cred,
            verf,
        })
    }
}

impl Encode for CallHeader {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.xid);
        out.put_u32(CALL);
        out.put_u32(RPC_VERSION);
        out.put_u32(self.prog);
        out.put_u32(self.vers);
        out.put_u32(self.proc_);
        self.cred.encode(out);
        self.verf.encode(out);
    }
}

/// How a call is answered, up to (not including) procedure results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyHeader {
    /// `MSG_ACCEPTED` with `SUCCESS`: procedure results follow.
    Success,
    /// `MSG_ACCEPTED` / `PROG_UNAVAIL`.
    ProgUnavail,
    /// `MSG_ACCEPTED` / `PROG_MISMATCH` with the supported version range.
    ProgMismatch {
        /// Lowest version supported.
        low: u32,
        /// Highest version supported.
        high: u32,
    },
    /// `MSG_ACCEPTED` / `PROC_UNAVAIL`.
    ProcUnavail,
    /// `MSG_ACCEPTED` / `GARBAGE_ARGS`.
    GarbageArgs,
    /// `MSG_ACCEPTED` / `SYSTEM_ERR`.
    SystemErr,
    /// `MSG_DENIED` / `RPC_MISMATCH` (we support only version 2).
    RpcMismatch,
    /// `MSG_DENIED` / `AUTH_ERROR`.
    AuthError(AuthStat),
}

impl ReplyHeader {
    /// Writes `rpc_msg` for a reply to `xid`, with an `AUTH_NONE` verifier when accepted.
    pub fn encode<B: BufMut>(&self, xid: u32, out: &mut B) {
        out.put_u32(xid);
        out.put_u32(REPLY);
        let accepted = |out: &mut B, stat: AcceptStat| {
            out.put_u32(0); // MSG_ACCEPTED
            OpaqueAuth::none().encode(out);
            stat.encode(out);
        };
        match self {
            ReplyHeader::Success => accepted(out, AcceptStat::SUCCESS),
            ReplyHeader::ProgUnavail => accepted(out, AcceptStat::PROG_UNAVAIL),
            ReplyHeader::ProgMismatch { low, high } => {
                accepted(out, AcceptStat::PROG_MISMATCH);
                out.put_u32(*low);
                out.put_u32(*high);
            }
            ReplyHeader::ProcUnavail => accepted(out, AcceptStat::PROC_UNAVAIL),
            ReplyHeader::GarbageArgs => accepted(out, AcceptStat::GARBAGE_ARGS),
            ReplyHeader::SystemErr => accepted(out, AcceptStat::SYSTEM_ERR),
            ReplyHeader::RpcMismatch => {
                out.put_u32(1); // MSG_DENIED
                out.put_u32(0); // RPC_MISMATCH
                out.put_u32(RPC_VERSION);
                out.put_u32(RPC_VERSION);
            }
            ReplyHeader::AuthError(stat) => {
                out.put_u32(1); // MSG_DENIED
                out.put_u32(1); // AUTH_ERROR
                stat.encode(out);
            }
        }
    }

    /// Reads a reply header (used by tests and the rpcbind client); returns the xid.
    pub fn decode(r: &mut Reader<'_>) -> Result<(u32, ReplyHeader), DecodeError> {
        let xid = r.u32()?;
        let mtype = r.u32()?;
        if mtype != REPLY {
            return Err(DecodeError::Invalid {
                what: "msg_type",
                value: mtype,
            });
        }
        let header = match r.u32()? {
            0 => {
                OpaqueAuth::decode(r)?;
                match AcceptStat::decode(r)? {
                    AcceptStat::SUCCESS => ReplyHeader::Success,
                    AcceptStat::PROG_UNAVAIL => ReplyHeader::ProgUnavail,
                    AcceptStat::PROG_MISMATCH => ReplyHeader::ProgMismatch {
                        low: r.u32()?,
                        high: r.u32()?,
                    },
                    AcceptStat::PROC_UNAVAIL => ReplyHeader::ProcUnavail,
                    AcceptStat::GARBAGE_ARGS => ReplyHeader::GarbageArgs,
                    AcceptStat::SYSTEM_ERR => ReplyHeader::SystemErr,
                    other => {
                        return Err(DecodeError::Invalid {
                            what: "accept_stat",
                            value: other.0,
                        })
                    }
                }
            }
            1 => match r.u32()? {
                0 => {
                    r.u32()?;
                    r.u32()?;
                    ReplyHeader::RpcMismatch
                }
                1 => ReplyHeader::AuthError(AuthStat::decode(r)?),
                v => {
                    return Err(DecodeError::Invalid {
                        what: "reject_stat",
                        value: v,
                    })
                }
            },
            v => {
                return Err(DecodeError::Invalid {
                    what: "reply_stat",
                    value: v,
                })
            }
        };
        Ok((xid, header))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn call(cred: OpaqueAuth) -> CallHeader {
        CallHeader {
            xid: 7,
            prog: 100003,
            vers: 3,
            proc_: 1,
            cred,
            verf: OpaqueAuth::none(),
        }
    }

    #[test]
    fn call_header_round_trip_with_auth_sys() {
        let sys = AuthSys {
            stamp: 1,
            machine_name: b"host".to_vec(),
            uid: 0,
            gid: 0,
            gids: vec![1, 2],
        };
        let mut body = Vec::new();
        sys.encode(&mut body);
        let c = call(OpaqueAuth {
            flavor: AuthFlavor::SYS,
            body,
        });
        let mut wire = Vec::new();
        c.encode(&mut wire);
        wire.extend_from_slice(b"ARGS");
        let mut r = Reader::new(&wire);
        let got = CallHeader::decode(&mut r).unwrap();
        assert_eq!(got, c);
        assert_eq!(r.rest(), b"ARGS");
        assert_eq!(
            Credential::from_opaque(&got.cred).unwrap(),
            Credential::Sys(sys)
        );
    }

    #[test]
    fn auth_sys_with_17_gids_is_rejected() {
        let sys = AuthSys {
            stamp: 1,
            machine_name: vec![],
            uid: 1,
            gid: 1,
            gids: vec![0; 17],
        };
        let mut body = Vec::new();
        sys.encode(&mut body);
        assert!(matches!(
            AuthSys::decode_all(&body),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn rpc_version_3_is_reported_with_xid() {
        let mut wire = Vec::new();
        for v in [9u32, CALL, 3] {
            wire.put_u32(v);
        }
        assert_eq!(
            CallHeader::decode(&mut Reader::new(&wire)),
            Err(CallError::RpcVersion { xid: 9 })
        );
    }

    #[test]
    fn truncated_header_is_malformed_and_tiny_is_garbage() {
        let mut wire = Vec::new();
        call(OpaqueAuth::none()).encode(&mut wire);
        for cut in 0..wire.len() {
            let got = CallHeader::decode(&mut Reader::new(&wire[..cut]));
            match got {
                Err(CallError::Garbage(_)) => assert!(cut < 8),
                Err(CallError::Malformed { xid: 7, .. }) => assert!(cut >= 8),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn reply_headers_round_trip() {
        for h in [
            ReplyHeader::Success,
            ReplyHeader::ProgUnavail,
            ReplyHeader::ProgMismatch { low: 3, high: 3 },
            ReplyHeader::ProcUnavail,
            ReplyHeader::GarbageArgs,
            ReplyHeader::SystemErr,
            ReplyHeader::RpcMismatch,
            ReplyHeader::AuthError(AuthStat::AUTH_TOOWEAK),
        ] {
            let mut wire = Vec::new();
            h.encode(42, &mut wire);
            let mut r = Reader::new(&wire);
            assert_eq!(ReplyHeader::decode(&mut r).unwrap(), (42, h));
            r.finish().unwrap();
        }
    }

    #[test]
    fn debug_prints_names() {
        assert_eq!(format!("{:?}", AcceptStat::PROG_UNAVAIL), "PROG_UNAVAIL");
        assert_eq!(format!("{:?}", AcceptStat(99)), "AcceptStat(99)");
    }
}
