//! SESSION_SETUP request, then its security buffer through SPNEGO and NTLMSSP, and the other
//! request decoders of the session layer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::{create, ioctl, query_directory, query_info, rw, session, tree};

fuzz_target!(|data: &[u8]| {
    if let Ok(ss) = session::SessionSetupRequest::decode(data) {
        assert!(ss.security_buffer.len() <= data.len());
        let _ = shoal_auth::spnego::decode_client_token(ss.security_buffer);
    }
    let _ = tree::TreeConnectRequest::decode(data);
    let _ = create::CreateRequest::decode(data);
    let _ = query_directory::QueryDirectoryRequest::decode(data);
    let _ = query_info::QueryInfoRequest::decode(data);
    let _ = rw::ReadRequest::decode(data);
    let _ = rw::WriteRequest::decode(data);
    let _ = ioctl::IoctlRequest::decode(data);
});
