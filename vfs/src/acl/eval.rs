//! Access evaluation: the SIDs a [`Caller`] holds (its token), what a descriptor's DACL leaves
//! it (MS-DTYP 2.5.3.2, simplified), and how that narrows the POSIX answer.
//!
//! The token of a caller: its own SID when the protocol knows one (an SMB session's user),
//! the SIDs of the users shoal maps its uid to ([`UserSids`], so an NFS caller whose uid is an
//! SMB user's matches ACEs naming that user), Samba's Unix SIDs `S-1-22-1-<uid>` and
//! `S-1-22-2-<gid>` for its uid, primary and supplementary groups, and the well-known SIDs every
//! network logon holds (Everyone, Authenticated Users, NETWORK, BUILTIN\Users).
//!
//! A DACL only narrows: the mode bits decide first, and a stored descriptor can take rights
//! away, never add them (as SMB did before the evaluation moved here).

use super::descriptor::{ace_flags, ace_type, map_generic_file, Ace, SecurityDescriptor, Sid};
use crate::perm::{
    ACCESS_DELETE, ACCESS_EXECUTE, ACCESS_EXTEND, ACCESS_LOOKUP, ACCESS_MODIFY, ACCESS_READ,
};
use crate::{Attr, Caller, FileKind};

/// File and directory access rights (MS-DTYP 2.4.3, MS-SMB2 2.2.13.1.1).
pub mod rights {
    /// FILE_READ_DATA / FILE_LIST_DIRECTORY.
    pub const READ_DATA: u32 = 0x0000_0001;
    /// FILE_WRITE_DATA / FILE_ADD_FILE.
    pub const WRITE_DATA: u32 = 0x0000_0002;
    /// FILE_ADD_FILE (directories).
    pub const ADD_FILE: u32 = 0x0000_0002;
    /// FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY.
    pub const APPEND_DATA: u32 = 0x0000_0004;
    /// FILE_ADD_SUBDIRECTORY (directories).
    pub const ADD_SUBDIRECTORY: u32 = 0x0000_0004;
    /// FILE_EXECUTE / FILE_TRAVERSE.
    pub const EXECUTE: u32 = 0x0000_0020;
    /// FILE_DELETE_CHILD.
    pub const DELETE_CHILD: u32 = 0x0000_0040;
    /// FILE_READ_ATTRIBUTES.
    pub const READ_ATTRIBUTES: u32 = 0x0000_0080;
    /// FILE_WRITE_ATTRIBUTES.
    pub const WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    /// DELETE.
    pub const DELETE: u32 = 0x0001_0000;
    /// READ_CONTROL.
    pub const READ_CONTROL: u32 = 0x0002_0000;
    /// WRITE_DAC.
    pub const WRITE_DAC: u32 = 0x0004_0000;
    /// WRITE_OWNER.
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    /// SYNCHRONIZE.
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    /// Every file right (FILE_ALL_ACCESS).
    pub const ALL: u32 = 0x001F_01FF;
}

/// Format version of the stored value (byte 0; the self-relative descriptor follows).
pub const STORE_VERSION: u8 = 1;

/// Maps a uid to the SIDs of the users it belongs to (the SMB users whose uid it is), so a
/// caller that arrives without a SID (NFS AUTH_SYS) holds them in its token. Implemented by
/// the server over its user database; a [`crate::LocalFs`] without one knows only the Unix SIDs.
pub trait UserSids: Send + Sync {
    /// The SIDs of the users with this uid (usually zero or one).
    fn sids_of_uid(&self, uid: u32) -> Vec<Sid>;
}

/// `S-1-22-1-<uid>`: Samba's SID of a Unix user.
pub fn unix_user_sid(uid: u32) -> Sid {
    Sid {
        authority: 22,
        sub_authorities: vec![1, uid],
    }
}

/// `S-1-22-2-<gid>`: Samba's SID of a Unix group.
pub fn unix_group_sid(gid: u32) -> Sid {
    Sid {
        authority: 22,
        sub_authorities: vec![2, gid],
    }
}

/// `S-1-1-0`, Everyone.
pub fn everyone() -> Sid {
    Sid {
        authority: 1,
        sub_authorities: vec![0],
    }
}

/// The SIDs of the caller's token: its own SID, `mapped` (the users its uid maps to), its Unix
/// user and group SIDs, Everyone, Authenticated Users, NETWORK and BUILTIN\Users.
pub fn token(caller: &Caller, mapped: Vec<Sid>) -> Vec<Sid> {
    let mut t: Vec<Sid> = caller
        .sid
        .as_deref()
        .and_then(Sid::parse)
        .into_iter()
        .collect();
    for s in mapped {
        if !t.contains(&s) {
            t.push(s);
        }
    }
    t.push(unix_user_sid(caller.uid));
    t.push(unix_group_sid(caller.gid));
    t.extend(caller.groups.iter().map(|g| unix_group_sid(*g)));
    t.push(everyone());
    for (authority, subs) in [(5, &[11u32][..]), (5, &[2]), (5, &[32, 545])] {
        t.push(Sid {
            authority,
            sub_authorities: subs.to_vec(),
        });
    }
    t
}

/// The descriptor in a stored value (version byte, then the self-relative form); `None` when
/// the format is unknown or it does not decode (logged: the object then has no descriptor).
pub fn decode_stored(raw: &[u8]) -> Option<SecurityDescriptor> {
    match raw.split_first() {
        Some((&STORE_VERSION, sd)) => match SecurityDescriptor::decode(sd) {
            Ok(sd) => Some(sd),
            Err(e) => {
                tracing::warn!(error = %e, "stored security descriptor does not decode; ignored");
                None
            }
        },
        _ => {
            tracing::warn!("stored security descriptor has an unknown format; ignored");
            None
        }
    }
}

/// The stored value of `sd`; `None` when it does not fit (see [`SecurityDescriptor::fits`]).
pub fn encode_stored(sd: &SecurityDescriptor) -> Option<Vec<u8>> {
    if !sd.fits() {
        return None;
    }
    let mut v = Vec::with_capacity(1 + sd.encoded_len());
    v.push(STORE_VERSION);
    sd.encode(&mut v);
    Some(v)
}

/// The rights a stored descriptor's DACL leaves the caller on an object with attributes `a`
/// (every right for root). Not withheld: SYNCHRONIZE and READ_ATTRIBUTES (Windows grants them
/// through the parent's FILE_LIST_DIRECTORY), and DELETE, which comes from the parent
/// directory's FILE_DELETE_CHILD (MS-FSA 2.1.5.1.2.1, [`may_delete`]). The owner is the
/// descriptor's owner SID or, when the file was chowned since, the file's uid.
pub fn limit(caller: &Caller, a: &Attr, sd: &SecurityDescriptor, mapped: Vec<Sid>) -> u32 {
    if caller.is_root() {
        return u32::MAX;
    }
    let t = token(caller, mapped);
    let is_owner = caller.uid == a.uid || sd.owner.as_ref().is_some_and(|o| t.contains(o));
    sd.max_access(&t, is_owner)
        | rights::SYNCHRONIZE
        | rights::READ_ATTRIBUTES
        | rights::DELETE
        | !rights::ALL
}

/// Whether the caller may remove an entry, given what the parent directory's descriptor leaves
/// it (`parent_limit`, [`limit`]) and, when the entry has a stored descriptor, what that one
/// grants (`child_grants`, the bare DACL answer with DELETE not added back): Windows allows a
/// delete when the parent grants FILE_DELETE_CHILD or the object itself grants DELETE
/// (MS-FSA 2.1.5.1.2.1, "the parent's FILE_DELETE_CHILD or the object's DELETE").
pub fn may_delete(parent_limit: u32, child_grants: Option<u32>) -> bool {
    parent_limit & rights::DELETE_CHILD != 0
        || child_grants.is_some_and(|g| g & rights::DELETE != 0)
}

/// The bare DACL answer for an entry's own DELETE right (no rights added back), as
/// [`may_delete`] takes it.
pub fn grants(caller: &Caller, a: &Attr, sd: &SecurityDescriptor, mapped: Vec<Sid>) -> u32 {
    if caller.is_root() {
        return u32::MAX;
    }
    let t = token(caller, mapped);
    let is_owner = caller.uid == a.uid || sd.owner.as_ref().is_some_and(|o| t.contains(o));
    sd.max_access(&t, is_owner)
}

/// The rights each NFSv3 ACCESS bit (RFC 1813 3.3.4) needs from the DACL, for a file or a
/// directory: READ needs FILE_READ_DATA (FILE_LIST_DIRECTORY), MODIFY and EXTEND of a file
/// FILE_WRITE_DATA (a WRITE needs it, see [`crate::LocalFs`]), EXECUTE FILE_EXECUTE; of a
/// directory EXTEND needs FILE_ADD_FILE, MODIFY FILE_ADD_FILE and FILE_DELETE_CHILD (a rename
/// inside it), DELETE FILE_DELETE_CHILD. LOOKUP needs nothing: traverse checking is bypassed,
/// as Windows does for every user by default (SeChangeNotifyPrivilege).
pub fn narrow_access(granted: u32, limit: u32, kind: FileKind) -> u32 {
    let is_dir = kind == FileKind::Directory;
    let needs: [(u32, u32); 6] = if is_dir {
        [
            (ACCESS_READ, rights::READ_DATA),
            (ACCESS_LOOKUP, 0),
            (ACCESS_MODIFY, rights::ADD_FILE | rights::DELETE_CHILD),
            (ACCESS_EXTEND, rights::ADD_FILE),
            (ACCESS_DELETE, rights::DELETE_CHILD),
            (ACCESS_EXECUTE, rights::EXECUTE),
        ]
    } else {
        [
            (ACCESS_READ, rights::READ_DATA),
            (ACCESS_LOOKUP, 0),
            (ACCESS_MODIFY, rights::WRITE_DATA),
            (ACCESS_EXTEND, rights::WRITE_DATA),
            (ACCESS_DELETE, 0),
            (ACCESS_EXECUTE, rights::EXECUTE),
        ]
    };
    needs
        .iter()
        .filter(|(bit, need)| granted & bit != 0 && limit & need == *need)
        .fold(0, |acc, (bit, _)| acc | bit)
}

impl SecurityDescriptor {
    /// The most a token holding `token` SIDs may be granted by the DACL (MS-DTYP 2.5.3.2,
    /// without privileges, object or conditional ACEs, which are skipped): a NULL DACL
    /// grants everything; ACEs are read in order, a DENY removes bits not yet granted. The
    /// owner (`is_owner`) holds READ_CONTROL and WRITE_DAC implicitly unless the DACL has an
    /// ACE for OWNER RIGHTS (S-1-3-4), in which case those ACEs say what the owner gets.
    pub fn max_access(&self, token: &[Sid], is_owner: bool) -> u32 {
        const ALL: u32 = 0x001F_01FF;
        const OWNER_IMPLICIT: u32 = 0x0002_0000 | 0x0004_0000;
        // No DACL, or a NULL DACL: no protection (MS-DTYP 2.4.6 SE_DACL_PRESENT).
        let Some(dacl) = &self.dacl else {
            return ALL;
        };
        let owner_rights = Sid {
            authority: 3,
            sub_authorities: vec![4],
        };
        let has_owner_rights_ace = dacl
            .aces
            .iter()
            .filter(applies_to_object)
            .any(|a| a.sid().as_ref() == Some(&owner_rights));
        let mut granted = if is_owner && !has_owner_rights_ace {
            OWNER_IMPLICIT
        } else {
            0
        };
        let mut denied = 0u32;
        for ace in dacl.aces.iter().filter(applies_to_object) {
            let applies = ace
                .sid()
                .is_some_and(|s| token.contains(&s) || (is_owner && s == owner_rights));
            if !applies {
                continue;
            }
            let mask = map_generic_file(ace.mask);
            match ace.ace_type {
                ace_type::ACCESS_ALLOWED => granted |= mask & !denied,
                ace_type::ACCESS_DENIED => denied |= mask & !granted,
                _ => {}
            }
        }
        granted
    }
}

/// Whether an ACE applies to the object itself (not only to what inherits it).
fn applies_to_object(a: &&Ace) -> bool {
    a.flags & ace_flags::INHERIT_ONLY == 0
}
