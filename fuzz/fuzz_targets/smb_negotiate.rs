//! NEGOTIATE request (with 3.1.1 contexts), the SMB1 NEGOTIATE, VALIDATE_NEGOTIATE_INFO.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::negotiate::{parse_smb1_negotiate, NegotiateRequest, ValidateNegotiateInfo};

fuzz_target!(|data: &[u8]| {
    let _ = NegotiateRequest::decode(data);
    let _ = parse_smb1_negotiate(data);
    let _ = ValidateNegotiateInfo::decode(data);
});
