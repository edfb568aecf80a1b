//! MS-NLMP 4.2.4 (NTLMv2 authentication) vectors and round trips.

use super::*;
use crate::db::nt_hash;

const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

fn names() -> ServerNames {
    ServerNames {
        computer: "Server".into(),
        domain: "Domain".into(),
        dns_computer: "server".into(),
        dns_domain: "domain".into(),
    }
}

fn negotiate(flags: u32) -> Vec<u8> {
    let mut m = SIGNATURE.to_vec();
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&[0; 16]);
    m
}

/// Builds an AUTHENTICATE_MESSAGE with the given fields (MIC slot at 72 when `mic`).
fn authenticate(lm: &[u8], nt: &[u8], domain: &str, user: &str, key: &[u8], flags: u32) -> Vec<u8> {
    let payload_start = 88;
    let fields: Vec<Vec<u8>> = vec![
        lm.to_vec(),
        nt.to_vec(),
        utf16le(domain),
        utf16le(user),
        utf16le("COMPUTER"),
        key.to_vec(),
    ];
    let mut hdr = SIGNATURE.to_vec();
    hdr.extend_from_slice(&3u32.to_le_bytes());
    let mut off = payload_start;
    let mut payload = Vec::new();
    for f in &fields {
        put_field(&mut hdr, f.len(), off);
        off += f.len();
        payload.extend_from_slice(f);
    }
    hdr.extend_from_slice(&flags.to_le_bytes());
    hdr.extend_from_slice(&[6, 1, 0xB1, 0x1D, 0, 0, 0, 0x0F]);
    hdr.extend_from_slice(&[0; 16]);
    assert_eq!(hdr.len(), payload_start);
    hdr.extend_from_slice(&payload);
    hdr
}

fn ms_nlmp_blob() -> Vec<u8> {
    let mut temp = vec![0x01, 0x01, 0, 0, 0, 0, 0, 0];
    temp.extend_from_slice(&[0; 8]); // time
    temp.extend_from_slice(&[0xaa; 8]); // client challenge
    temp.extend_from_slice(&[0; 4]);
    put_av(&mut temp, 2, &utf16le("Domain"));
    put_av(&mut temp, 1, &utf16le("Server"));
    put_av(&mut temp, 0, &[]);
    temp.extend_from_slice(&[0; 4]);
    temp
}

const ALL_FLAGS: u32 = 0xe288_8235 | flags::UNICODE;

#[test]
fn ms_nlmp_4_2_4_ntlmv2_verifies_and_yields_the_random_session_key() {
    let (c, challenge) =
        Challenger::challenge(&negotiate(ALL_FLAGS), SERVER_CHALLENGE, 0, &names()).unwrap();
    assert_eq!(le32(&challenge, 24).unwrap(), 0x6745_2301);
    // NTProofStr of section 4.2.4.2.2.
    let proof = [
        0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef, 0x6a,
        0x1c,
    ];
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&ms_nlmp_blob());
    // EncryptedRandomSessionKey of section 4.2.4.2.3 (RandomSessionKey 0x55 * 16).
    let enc = [
        0xc5, 0xda, 0xd2, 0x54, 0x4f, 0xc9, 0x79, 0x90, 0x94, 0xce, 0x1c, 0xe9, 0x0b, 0xc9, 0xd0,
        0x3e,
    ];
    let msg = authenticate(&[0; 24], &nt, "Domain", "User", &enc, ALL_FLAGS);
    let auth = AuthenticateMessage::decode(&msg).unwrap();
    assert_eq!(auth.user, "User");
    let v = c.verify(&auth, &nt_hash("Password")).unwrap();
    assert_eq!(v.session_key, [0x55; 16]);
    assert!(!v.had_mic);
    assert!(matches!(
        c.verify(&auth, &nt_hash("password")),
        Err(AuthError::LogonFailure)
    ));
}

#[test]
fn session_base_key_without_key_exchange_is_ms_nlmp_4_2_4_1_2() {
    let flags = ALL_FLAGS & !flags::KEY_EXCH;
    let (c, _) = Challenger::challenge(&negotiate(flags), SERVER_CHALLENGE, 0, &names()).unwrap();
    let mut nt = vec![
        0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef, 0x6a,
        0x1c,
    ];
    nt.extend_from_slice(&ms_nlmp_blob());
    let msg = authenticate(&[], &nt, "Domain", "User", &[], flags);
    let v = c
        .verify(
            &AuthenticateMessage::decode(&msg).unwrap(),
            &nt_hash("Password"),
        )
        .unwrap();
    assert_eq!(
        v.session_key,
        [
            0x8d, 0xe4, 0x0c, 0xca, 0xdb, 0xc1, 0x4a, 0x82, 0xf1, 0x5c, 0xb0, 0xad, 0x0d, 0xe9,
            0x5c, 0xa3
        ]
    );
}

#[test]
fn lm_ntlmv1_and_anonymous_are_refused() {
    let (c, _) =
        Challenger::challenge(&negotiate(ALL_FLAGS), SERVER_CHALLENGE, 0, &names()).unwrap();
    let v1 = authenticate(&[1; 24], &[2; 24], "D", "User", &[], ALL_FLAGS);
    assert!(matches!(
        c.verify(&AuthenticateMessage::decode(&v1).unwrap(), &[0; 16]),
        Err(AuthError::Refused(_))
    ));
    let lm = authenticate(&[1; 24], &[], "D", "User", &[], ALL_FLAGS);
    assert!(matches!(
        c.verify(&AuthenticateMessage::decode(&lm).unwrap(), &[0; 16]),
        Err(AuthError::Refused(_))
    ));
    let anon = authenticate(&[0], &[], "", "", &[], ALL_FLAGS);
    assert!(AuthenticateMessage::decode(&anon).unwrap().is_anonymous());
}

#[test]
fn mic_is_checked_when_announced() {
    let neg = negotiate(ALL_FLAGS);
    let (c, challenge) = Challenger::challenge(&neg, SERVER_CHALLENGE, 0, &names()).unwrap();
    let hash = nt_hash("pw");
    let response_key = hmac_md5(&hash, &[&utf16le("ALICE"), &utf16le("WG")]);
    let mut blob = vec![0x01, 0x01, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0; 8]);
    blob.extend_from_slice(&[0x11; 8]);
    blob.extend_from_slice(&[0; 4]);
    put_av(&mut blob, 6, &2u32.to_le_bytes());
    put_av(&mut blob, 0, &[]);
    blob.extend_from_slice(&[0; 4]);
    let proof = hmac_md5(&response_key, &[&SERVER_CHALLENGE, &blob]);
    let base = hmac_md5(&response_key, &[&proof]);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    let exported = [0x42u8; 16];
    let mut enc = exported;
    rc4(&base, &mut enc);
    let mut msg = authenticate(&[0; 24], &nt, "WG", "alice", &enc, ALL_FLAGS);
    let mic = hmac_md5(&exported, &[&neg, &challenge, &msg]);
    msg[72..88].copy_from_slice(&mic);
    let v = c
        .verify(&AuthenticateMessage::decode(&msg).unwrap(), &hash)
        .unwrap();
    assert_eq!(v.session_key, exported);
    assert!(v.had_mic);
    msg[80] ^= 1;
    assert!(matches!(
        c.verify(&AuthenticateMessage::decode(&msg).unwrap(), &hash),
        Err(AuthError::LogonFailure)
    ));
}

#[test]
fn session_security_signatures_round_trip() {
    let key = [0x55u8; 16];
    let mut client = SessionSecurity::new(&key, ALL_FLAGS, true);
    let mut server_view = SessionSecurity::new(&key, ALL_FLAGS, true);
    let sig = client.sign(b"mechlist");
    assert!(server_view.verify(b"mechlist", &sig));
    let mut other = SessionSecurity::new(&key, ALL_FLAGS, false);
    assert_ne!(other.sign(b"mechlist"), sig);
}

#[test]
fn fields_outside_the_message_are_refused() {
    let mut msg = authenticate(&[0; 24], &[0; 50], "D", "U", &[], ALL_FLAGS);
    msg[24] = 0xff; // NT response offset far away
    assert!(AuthenticateMessage::decode(&msg).is_err());
    assert!(AuthenticateMessage::decode(&msg[..40]).is_err());
}

#[test]
fn unterminated_av_pairs_are_malformed() {
    let flags = ALL_FLAGS & !flags::KEY_EXCH;
    let (c, _) = Challenger::challenge(&negotiate(flags), SERVER_CHALLENGE, 0, &names()).unwrap();
    let hash = nt_hash("pw");
    let key = hmac_md5(&hash, &[&utf16le("BOB"), &utf16le("D")]);
    let mut blob = vec![0x01, 0x01, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0; 20]);
    put_av(&mut blob, 2, &utf16le("D")); // no MsvAvEOL
    let proof = hmac_md5(&key, &[&SERVER_CHALLENGE, &blob]);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    let msg = authenticate(&[], &nt, "D", "bob", &[], flags);
    let auth = AuthenticateMessage::decode(&msg).unwrap();
    assert!(matches!(
        c.verify(&auth, &hash),
        Err(AuthError::Malformed { .. })
    ));
    assert!(matches!(
        c.verify(&auth, &nt_hash("other")),
        Err(AuthError::Malformed { .. })
    ));
}
