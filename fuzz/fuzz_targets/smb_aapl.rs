//! The `AAPL` create context: request decoding (what the server parses) and reply decoding,
//! with re-encoding checked where the encoding is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::aapl::{AaplRequest, ServerQueryReply};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = AaplRequest::decode(data) {
        let mut again = Vec::new();
        q.encode(&mut again);
        // Canonical when the reserved field is zero (server query) or nothing follows the
        // command (other commands).
        if matches!(q, AaplRequest::ServerQuery { .. }) && data.get(4..8) == Some(&[0; 4][..]) {
            assert_eq!(again, data);
        }
    }
    if let Ok(r) = ServerQueryReply::decode(data) {
        let mut again = Vec::new();
        r.encode(&mut again);
        assert_eq!(ServerQueryReply::decode(&again).as_ref(), Ok(&r));
    }
});
