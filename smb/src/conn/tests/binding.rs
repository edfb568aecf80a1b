//! Session binding (`handlers::session_bind`) across two connections of one server: a bind
//! request signed with the session's key gets a refusal signed with it; a bad signature gets
//! STATUS_ACCESS_DENIED and nothing signed; an unsigned one, or one for an unknown session,
//! gets the spec's status; the session goes on working on its own connection throughout.

use super::*;

const ALG: SigningAlgorithm = SigningAlgorithm::AesCmac;

/// SESSION_SETUP with SMB2_SESSION_FLAG_BINDING for `session_id`, carrying an NTLMSSP
/// NEGOTIATE.
fn bind_request(c: &mut Client, session_id: u64) -> Vec<u8> {
    let mut t1 = b"NTLMSSP\0\x01\0\0\0".to_vec();
    t1.extend_from_slice(&NEG_FLAGS.to_le_bytes());
    t1.extend_from_slice(&[0; 16]);
    c.session_id = session_id;
    let mut m = setup_request(c, &t1);
    // Body offset 2: Flags.
    m[64 + 2] = shoal_smb_proto::session::SESSION_FLAG_BINDING;
    m
}

#[tokio::test]
async fn binding_is_refused_with_a_reply_only_the_key_holder_can_trust() {
    let (shared, dir) = shared_for(|v| v, SmbConfig::default().max_reads_in_flight, |_| {});
    let (mut c1, _t1) = connect(shared.clone());
    let (key, _) = logon_with(&mut c1, "alice", "s3cret", 0).await.unwrap();
    let sid = c1.session_id;
    let (mut c2, _t2) = connect(shared);
    negotiate(&mut c2, 0).await;

    // Signed with the session's key, same dialect and cipher: a valid bind, refused for
    // want of multichannel, and the refusal is signed with the session's key.
    let mut m = bind_request(&mut c2, sid);
    sign(ALG, &key, &mut m, Role::Client);
    let (h, r) = c2.call(&m).await;
    assert_eq!(h.status, NtStatus::REQUEST_NOT_ACCEPTED);
    assert!(h.is_signed() && verify(ALG, &key, &r, Role::Server));

    // A bad signature: ACCESS_DENIED, flagged signed (the client requires the flag) but with
    // no signature made with the key.
    let mut m = bind_request(&mut c2, sid);
    sign(ALG, &key, &mut m, Role::Client);
    m[70] ^= 0x01;
    let (h, r) = c2.call(&m).await;
    assert_eq!(h.status, NtStatus::ACCESS_DENIED);
    assert!(!verify(ALG, &key, &r, Role::Server));
    assert_eq!(r[48..64], [0; 16]);

    // Unsigned: the bind proves nothing; INVALID_PARAMETER, unsigned.
    let m = bind_request(&mut c2, sid);
    let (h, _) = c2.call(&m).await;
    assert_eq!(h.status, NtStatus::INVALID_PARAMETER);
    assert!(!h.is_signed());

    // No such session.
    let m = bind_request(&mut c2, sid ^ 0x5a5a);
    let (h, _) = c2.call(&m).await;
    assert_eq!(h.status, NtStatus::USER_SESSION_DELETED);

    // Binding did not touch the session on its own connection.
    let mut m = tree_connect(&mut c1, "\\\\srv\\data");
    sign(ALG, &key, &mut m, Role::Client);
    let (h, r) = c1.call(&m).await;
    assert_eq!(h.status, NtStatus::SUCCESS);
    assert!(verify(ALG, &key, &r, Role::Server));

    // Nor does the second connection have the session for anything else.
    c2.tree_id = 0;
    let mut m = tree_connect(&mut c2, "\\\\srv\\data");
    sign(ALG, &key, &mut m, Role::Client);
    let (h, _) = c2.call(&m).await;
    assert_eq!(h.status, NtStatus::USER_SESSION_DELETED);
    let _ = std::fs::remove_dir_all(dir);
}
