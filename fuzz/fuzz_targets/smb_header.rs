//! SMB2 transport frame header, message header and compound chain splitting.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::{compound, framing, header::Header};

fuzz_target!(|data: &[u8]| {
    if let Some(h) = data.get(..4) {
        let _ = framing::parse_frame_header([h[0], h[1], h[2], h[3]], 1 << 20);
    }
    if let Ok(h) = Header::decode(data) {
        // Re-encoding is canonical up to the reserved field: decode(encode(h)) == h.
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(Header::decode(&v).ok(), Some(h));
    }
    if let Ok(ranges) = compound::split(data, 64) {
        for r in ranges {
            assert!(r.start < r.end && r.end <= data.len());
        }
    }
});
