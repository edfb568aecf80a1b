//! The SMB connection (dispatcher, handlers, session/tree/open state) driven with sequences of
//! requests after a scripted NEGOTIATE + NTLMv2 SESSION_SETUP + TREE_CONNECT; input format in
//! `smb/src/fuzzing.rs`. Asserts no panic and no hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shoal_smb::fuzzing::smb_dispatch(data);
});
