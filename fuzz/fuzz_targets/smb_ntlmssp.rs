//! NTLMSSP: NEGOTIATE → CHALLENGE construction, AUTHENTICATE decoding and verification.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_auth::ntlm::{AuthenticateMessage, Challenger, ServerNames};

fuzz_target!(|data: &[u8]| {
    let names = ServerNames {
        computer: "SHOAL".into(),
        domain: "WORKGROUP".into(),
        dns_computer: "shoal".into(),
        dns_domain: String::new(),
    };
    let _ = Challenger::challenge(data, [1; 8], 0, &names);
    if let Ok(auth) = AuthenticateMessage::decode(data) {
        let neg = b"NTLMSSP\0\x01\0\0\0\x35\x82\x89\xe2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        if let Ok((c, _)) = Challenger::challenge(neg, [1; 8], 0, &names) {
            let _ = c.verify(&auth, &[0x11; 16]);
        }
    }
});
