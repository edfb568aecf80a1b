//! OPLOCK_BREAK acknowledgments (oplock and lease) and the `RqLs` lease create context
//! (v1 and v2): decoding, with re-encoding checked where the encoding is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::lease::LeaseContext;
use shoal_smb_proto::oplock::BreakAck;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = LeaseContext::decode(data) {
        // Every byte of a lease context is a field: re-encoding gives the input back.
        let mut again = Vec::new();
        c.encode(&mut again);
        assert_eq!(again, data);
    }
    if let Ok(ack) = BreakAck::decode(data) {
        // Reserved fields are ignored on decode; the re-encoded body decodes to the same.
        let mut msg = vec![0u8; 64];
        ack.encode(&mut msg);
        assert_eq!(BreakAck::decode(&msg), Ok(ack));
    }
});
