//! SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41): decoding, the pre-decryption checks, and opening
//! with a fixed key of each cipher: never a panic, and a frame that opens is one we could
//! have sealed (the tag authenticates header and payload).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::crypto::encryption::{Cipher, CipherKey};
use shoal_smb_proto::transform::{self, TransformHeader, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = TransformHeader::decode(data) {
        // Re-encoding is canonical up to the Reserved field.
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(v.len(), HEADER_LEN);
        assert_eq!(TransformHeader::decode(&v).ok(), Some(h));
    }
    if transform::peek(data).is_ok() {
        for c in Cipher::ALL {
            let key = CipherKey::new(c, &vec![0x5A; c.key_len()]).expect("valid key length");
            let mut buf = data.to_vec();
            if let Ok(h) = transform::open(&key, &mut buf) {
                // Sealing the plaintext again with the same nonce gives back the input.
                let mut again = vec![0u8; HEADER_LEN];
                again.extend_from_slice(&buf[HEADER_LEN..]);
                transform::seal(&key, h.nonce, h.session_id, &mut again).expect("seal");
                assert_eq!(&again[HEADER_LEN..], &data[HEADER_LEN..]);
            }
        }
    }
});
