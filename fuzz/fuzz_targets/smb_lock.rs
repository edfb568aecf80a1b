//! SMB2 LOCK request (MS-SMB2 2.2.26): decoding never panics nor allocates past the input, and
//! a decoded request re-encodes to the input up to the Reserved fields of its elements.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::header::HEADER_LEN;
use shoal_smb_proto::lock::LockRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = LockRequest::decode(data) {
        let mut again = vec![0u8; HEADER_LEN];
        req.encode(&mut again);
        assert_eq!(LockRequest::decode(&again).as_ref(), Ok(&req));
        assert!(req.locks.len() * 24 <= data.len());
    }
});
