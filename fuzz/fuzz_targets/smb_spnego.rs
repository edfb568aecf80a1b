//! SPNEGO DER tokens from the client.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shoal_auth::spnego::decode_client_token(data);
});
