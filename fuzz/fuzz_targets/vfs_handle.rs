//! File handles come back from clients: decoding arbitrary bytes must never panic, and a
//! handle that authenticates re-encodes to the same bytes (canonical encoding).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_vfs::local::handle::HandleCodec;
use shoal_vfs::FileHandle;

fuzz_target!(|data: &[u8]| {
    let codec = HandleCodec::new(&[0x5a; 32]);
    let Some(h) = FileHandle::from_bytes(data) else { return };
    if let Ok(d) = codec.decode(&h) {
        let again = codec.encode(d.root_tag, &d.kernel).expect("decoded handles re-encode");
        assert_eq!(again.as_bytes(), data);
    }
});
