//! Spec vectors: the key derivation and preauth examples Microsoft published in "SMB 2 and
//! SMB 3 security in Windows 10: the anatomy of signing and cryptographic keys" (appendix) and
//! "SMB 3.1.1 Pre-authentication integrity in Windows 10", plus RFC 4493 for AES-CMAC.

use super::kdf::{derive_session_keys, kdf128};
use super::preauth::PreauthHash;
use super::signing::{compute, sign, verify, Role, SigningAlgorithm};
use crate::header::Dialect;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn h16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}

fn h64(s: &str) -> [u8; 64] {
    hex(s).try_into().unwrap()
}

#[test]
fn smb30_keys_match_the_published_example() {
    let k = derive_session_keys(
        &h16("7CD451825D0450D235424E44BA6E78CC"),
        Dialect::SMB3_0,
        &[0; 64],
    );
    assert_eq!(k.signing, h16("0B7E9C5CAC36C0F6EA9AB275298CEDCE"));
    assert_eq!(k.encryption, h16("B0F0427F7CEB416D1D9DCC0CD4F99447"));
    assert_eq!(k.decryption, h16("FAD27796665B313EBB578F388632B4F7"));
    assert_eq!(k.application, h16("BB23A4575AA26C721AF525AF15A87B4F"));
    // Second channel of the same example.
    assert_eq!(
        kdf128(
            &h16("4E01A2B313BCF660CC250BEF021AEDE6"),
            b"SMB2AESCMAC\0",
            b"SmbSign\0"
        ),
        h16("BA1A17DBBFEC349BCA105563D598952F")
    );
}

const PREAUTH_AFTER_NEGOTIATE: &str = "324BFA92A4F3A190E466EBEA08D9C110DC88BFED758D9846ECC6F541CC1D02AE3C94A79F36011E997E13F841B91B50957AD07B19C8E2539C0B23FDAE09D2C513";

const SESSION_SETUP_REQUEST_1: &str = "FE534D4240000100000000000100800000000000000000000200000000000000FFFE00000000000000000000000000000000000000000000000000000000000019000001010000000000000058004A000000000000000000604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000000F";

const SESSION_SETUP_RESPONSE_1: &str = "FE534D4240000100160000C00100010001000000000000000200000000000000FFFE000000000000190000000010000000000000000000000000000000000000090000004800B300A181B03081ADA0030A0101A10C060A2B06010401823702020AA281970481944E544C4D53535000020000000C000C003800000015828AE20D1D8BA31179D008000000000000000050005000440000000A0092270000000F53005500540033003100310002000C0053005500540033003100310001000C0053005500540033003100310004000C0053005500540033003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED00100000000";

const SESSION_SETUP_REQUEST_2: &str = "FE534D4240000100000000000100800000000000000000000300000000000000FFFE0000000000001900000000100000000000000000000000000000000000001900000101000000000000005800CF010000000000000000A18201CB308201C7A0030A0101A28201AA048201A64E544C4D53535000030000001800180090000000EE00EE00A80000000C000C00580000001A001A0064000000120012007E0000001000100096010000158288E2060380250000000FECAC77A5F385A8BF9C38C706EEEDDCD3530055005400330031003100610064006D0069006E006900730074007200610074006F00720044005200490056004500520033003100310000000000000000000000000000000000000000000000000063078EB639FE03E20A231C3AE3BF23080101000000000000A1A1F5ADCBAED001BC4AD05F223CC90F0000000002000C0053005500540033003100310001000C0053005500540033003100310004000C0053005500540033003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED00106000400020000000800300030000000000000000000000000300000B61FEFCAA857EA57BF1EDCEBF8974B8E0EBA5A6DFD9D07A31D11B548F8C9D0CC0A001000000000000000000000000000000000000900160063006900660073002F005300550054003300310031000000000000000000000000003B9BDFF38F5EE8F9663F11A0F4C03A78A31204100100000063775A9A5FD97F0600000000";

const PREAUTH_FINAL: &str = "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D9751640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01";

const SESSION_SETUP_RESPONSE_FINAL: &str = "FE534D4240000100000000000100800009000000000000000300000000000000FFFE0000000000001900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A0100A3120410010000003B453CDC3524164200000000";

#[test]
fn smb311_preauth_chain_keys_and_signature_match_the_published_example() {
    let mut h = PreauthHash(h64(PREAUTH_AFTER_NEGOTIATE));
    h.update(&hex(SESSION_SETUP_REQUEST_1));
    assert_eq!(h.0[..4], hex("AC0B0F2B")[..]);
    h.update(&hex(SESSION_SETUP_RESPONSE_1));
    assert_eq!(h.0[..4], hex("2729E344")[..]);
    h.update(&hex(SESSION_SETUP_REQUEST_2));
    assert_eq!(h.0, h64(PREAUTH_FINAL));

    let k = derive_session_keys(
        &h16("270E1BA896585EEB7AF3472D3B4C75A7"),
        Dialect::SMB3_1_1,
        &h.0,
    );
    assert_eq!(k.signing, h16("73FE7A9A77BEF0BDE49C650D8CCB5F76"));
    assert_eq!(k.encryption, h16("E2AF0DCEFAC68DA71A0DFBD0D1350D74"));
    assert_eq!(k.decryption, h16("629BCBC54422A0F572B97F45989B6073"));
    assert_eq!(k.application, h16("6D7AD7954E9EC61E907B4D473DC178FF"));

    // The final SESSION_SETUP response of the example is signed with AES-CMAC.
    let resp = hex(SESSION_SETUP_RESPONSE_FINAL);
    assert!(verify(
        SigningAlgorithm::AesCmac,
        &k.signing,
        &resp,
        Role::Server
    ));
    let mut unsigned = resp.clone();
    unsigned[48..64].fill(0);
    sign(
        SigningAlgorithm::AesCmac,
        &k.signing,
        &mut unsigned,
        Role::Server,
    );
    assert_eq!(unsigned, resp);
    let mut tampered = resp.clone();
    tampered[70] ^= 1;
    assert!(!verify(
        SigningAlgorithm::AesCmac,
        &k.signing,
        &tampered,
        Role::Server
    ));
}

#[test]
fn preauth_of_the_negotiate_exchange() {
    let mut h = PreauthHash::default();
    h.update(&hex("FE534D4240000100000000000000800000000000000000000100000000000000FFFE00000000000000000000000000000000000000000000000000000000000024000500000000003F000000ECD86F326276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF00000200060000000000020002000100"));
    assert_eq!(h.0, h64("DD94EFC5321BB618A2E208BA8920D2F422992526947A409B5037DE1E0FE8C7362B8C47122594CDE0CE26AA9DFC8BCDBDE0621957672623351A7540F1E54A0426"));
}

#[test]
fn aes_cmac_matches_rfc4493() {
    // RFC 4493 example 2 (16-byte message), computed through `compute` by embedding it after
    // a fake header is not possible, so check the primitive directly.
    use aes::Aes128;
    use cmac::{Cmac, Mac};
    let mut m =
        <Cmac<Aes128> as Mac>::new_from_slice(&hex("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
    m.update(&hex("6bc1bee22e409f96e93d7e117393172a"));
    assert_eq!(
        m.finalize().into_bytes().to_vec(),
        hex("070a16b46b4d4144f79bdd9dd04a287c")
    );
}

#[test]
fn each_algorithm_signs_and_verifies_and_roles_differ_for_gmac() {
    let key = [7u8; 16];
    let mut msg = hex(SESSION_SETUP_RESPONSE_FINAL);
    for alg in [
        SigningAlgorithm::HmacSha256,
        SigningAlgorithm::AesCmac,
        SigningAlgorithm::AesGmac,
    ] {
        sign(alg, &key, &mut msg, Role::Server);
        assert!(verify(alg, &key, &msg, Role::Server), "{alg:?}");
        assert!(!verify(alg, &[8u8; 16], &msg, Role::Server), "{alg:?}");
    }
    let s = compute(SigningAlgorithm::AesGmac, &key, &msg, Role::Server);
    let c = compute(SigningAlgorithm::AesGmac, &key, &msg, Role::Client);
    assert_ne!(s, c);
    assert!(compute(SigningAlgorithm::AesGmac, &key, &msg[..63], Role::Client).is_none());
}

#[test]
fn large_gmac_messages_take_the_fast_path_and_agree_with_ring() {
    use ring::aead;
    let key = [9u8; 16];
    // A READ reply header (command 8, server-to-redirector) with 64 KiB of data.
    let mut msg = hex(SESSION_SETUP_RESPONSE_FINAL);
    msg.truncate(64);
    msg[12] = 8;
    msg.extend((0..65_536u32).map(|i| (i * 7) as u8));
    sign(SigningAlgorithm::AesGmac, &key, &mut msg, Role::Server);
    assert!(verify(SigningAlgorithm::AesGmac, &key, &msg, Role::Server));
    // The signature is ring's GMAC over the message with a zero signature field.
    let mut zeroed = msg.clone();
    zeroed[48..64].fill(0);
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&msg[24..32]);
    nonce[8] = 1; // server
    let k = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &key).unwrap());
    let t = k
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&zeroed[..]),
            &mut [],
        )
        .unwrap();
    assert_eq!(&msg[48..64], t.as_ref());
    // Any flipped payload byte fails.
    msg[40_000] ^= 1;
    assert!(!verify(SigningAlgorithm::AesGmac, &key, &msg, Role::Server));
}

// Encryption examples from "Encryption in SMB 3.0: A protocol perspective" (AES-128-CCM) and
// "SMB 3.1.1 Encryption in Windows 10" (AES-128-GCM), Microsoft Open Specifications blog.
// The client's encryption key is the server's decryption key and vice versa.
mod encryption_vectors {
    use super::{h16, h64, hex};
    use crate::crypto::encryption::{derive_cipher_keys, Cipher, CipherKey};
    use crate::header::Dialect;
    use crate::transform::{open, seal, HEADER_LEN};

    fn nonce16(s: &str) -> [u8; 16] {
        let mut n = [0u8; 16];
        let b = hex(s);
        n[..b.len()].copy_from_slice(&b);
        n
    }

    /// Seals `plain` with `key` and `nonce` and checks the frame; opens `frame` back.
    fn check(
        cipher: Cipher,
        key: &[u8],
        nonce: [u8; 16],
        session_id: u64,
        plain: &[u8],
        frame: &[u8],
    ) {
        let k = CipherKey::new(cipher, key).unwrap();
        let mut buf = vec![0u8; HEADER_LEN];
        buf.extend_from_slice(plain);
        seal(&k, nonce, session_id, &mut buf).unwrap();
        assert_eq!(buf, frame);
        let mut back = frame.to_vec();
        let h = open(&k, &mut back).unwrap();
        assert_eq!(h.session_id, session_id);
        assert_eq!(&back[HEADER_LEN..], plain);
    }

    #[test]
    fn smb30_aes128ccm_write_request_and_response() {
        let sk = h16("B4546771B515F766A86735532DD6C4F0");
        let keys = derive_cipher_keys(&sk, Dialect::SMB3_0, &[0; 64], Cipher::AES_128_CCM).unwrap();
        assert_eq!(keys.decryption, hex("261B72350558F2E9DCF613070383EDBF"));
        assert_eq!(keys.encryption, hex("8FE2B57EC34D2DB5B1A9727F526BBDB5"));
        let sid = 0x8E40014000011;
        // Client to server: a WRITE of "Smb3 encryption testing".
        let request = hex(concat!(
            "FE534D4240000100000000000900400008000000000000000400000000000000",
            "FFFE0000010000001100001400E4080000000000000000000000000000000000",
            "3100700017000000000000000000000015010000390000020100000039020000",
            "00000000000000007000000000000000536D623320656E6372797074696F6E20",
            "74657374696E67"
        ));
        let request_frame = hex(concat!(
            "FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A",
            "744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD5",
            "2DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A4",
            "4C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5",
            "AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6",
            "C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB"
        ));
        // The blog's nonce is 16 random bytes; CCM uses the first 11 and the frame carries
        // all 16, so seal with the full field.
        check(
            Cipher::AES_128_CCM,
            &keys.decryption,
            nonce16("66E69A111892584FB5ED524A744DA3EE"),
            sid,
            &request,
            &request_frame,
        );
        // Server to client: the WRITE response.
        let response = hex(concat!(
            "FE534D4240000100000000000900210009000000000000000400000000000000",
            "FFFE0000010000001100001400E4080000000000000000000000000000000000",
            "11000000170000000000000000000000"
        ));
        let response_frame = hex(concat!(
            "FD534D42A6015530A18F6D9AFFE22AFAE8E66484860000000000000011000014",
            "00E4080050000000000001001100001400E40800DBF46435C5F14169293CE079",
            "E344479BF670227E49873F458672C3098DAC467DD5809F369D67409166515787",
            "1483E01F7BECD02064EAC3E235F913668BBC2F097980D4B378F1993EFF6E60D1",
            "77309E5B"
        ));
        let nonce: [u8; 16] = response_frame[20..36].try_into().unwrap();
        check(
            Cipher::AES_128_CCM,
            &keys.encryption,
            nonce,
            sid,
            &response,
            &response_frame,
        );
    }

    #[test]
    fn smb311_aes128gcm_write_request_and_response() {
        let sk = h16("419FDDF34C1E001909D362AE7FB6AF79");
        let preauth = h64(concat!(
            "B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDBA7DB256BA2EA30E9",
            "77F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770"
        ));
        let keys =
            derive_cipher_keys(&sk, Dialect::SMB3_1_1, &preauth, Cipher::AES_128_GCM).unwrap();
        assert_eq!(keys.decryption, hex("A2F5E80E5D59103034F32E52F698E5EC"));
        assert_eq!(keys.encryption, hex("748C50868C90F302962A5C35F5F9A8BF"));
        let sid = 0x100000000025;
        let request = hex(concat!(
            "FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000",
            "25000000001000000000000000000000000000000000000031007000170000000000000000000000",
            "0600000004000000010000000400000000000000000000007000000000000000536D623320656E63",
            "72797074696F6E2074657374696E67"
        ));
        let request_frame = hex(concat!(
            "FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000",
            "0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02",
            "D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4",
            "4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9",
            "1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8"
        ));
        check(
            Cipher::AES_128_GCM,
            &keys.decryption,
            nonce16("C7D6822D269CAF48904C664C"),
            sid,
            &request,
            &request_frame,
        );
        let response = hex(concat!(
            "FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000",
            "25000000001000000000000000000000000000000000000011000000170000000000000000000000"
        ));
        let response_frame = hex(concat!(
            "FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B4000000000000000050000000",
            "00000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8",
            "F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B",
            "82E03C9E18A050FF0EA1C967"
        ));
        let nonce: [u8; 16] = response_frame[20..36].try_into().unwrap();
        check(
            Cipher::AES_128_GCM,
            &keys.encryption,
            nonce,
            sid,
            &response,
            &response_frame,
        );
    }

    #[test]
    fn aes256_keys_use_l256_and_differ_from_aes128() {
        let sk = h16("419FDDF34C1E001909D362AE7FB6AF79");
        let k128 =
            derive_cipher_keys(&sk, Dialect::SMB3_1_1, &[3; 64], Cipher::AES_128_GCM).unwrap();
        let k256 =
            derive_cipher_keys(&sk, Dialect::SMB3_1_1, &[3; 64], Cipher::AES_256_GCM).unwrap();
        assert_eq!(k256.encryption.len(), 32);
        assert_ne!(k256.encryption[..16], k128.encryption[..]);
        assert!(derive_cipher_keys(&sk, Dialect::SMB2_1, &[0; 64], Cipher::AES_128_CCM).is_none());
        for c in Cipher::ALL {
            let k = derive_cipher_keys(&sk, Dialect::SMB3_1_1, &[3; 64], c).unwrap();
            assert!(CipherKey::new(c, &k.encryption).is_ok(), "{c:?}");
            assert_eq!(Cipher::from_name(c.name().unwrap()), Some(c));
        }
    }

    #[test]
    fn nonces_never_repeat_and_replays_are_seen() {
        let mut seq = crate::crypto::encryption::NonceSequence::new();
        let a = seq.next_nonce().unwrap();
        let b = seq.next_nonce().unwrap();
        assert_ne!(a, b);
        assert_eq!(a[8..], [0; 8]);
        let mut w = crate::crypto::encryption::ReplayWindow::default();
        assert!(w.accept(a));
        assert!(w.accept(b));
        assert!(!w.accept(a));
    }
}
