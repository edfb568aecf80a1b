//! Inheritance: the DACL a new object takes from its parent directory's descriptor (MS-DTYP
//! 2.5.3.4), the same for an object made over SMB or NFS.

use super::descriptor::{ace_flags, control, map_generic_file, Ace, Acl, SecurityDescriptor, Sid};

/// The descriptor a new object gets when its parent directory has `parent` stored: owner and
/// group as given, the inherited DACL ([`inherited_dacl`]) and the parent's
/// DACL_AUTO_INHERITED bit; `None` when nothing is inheritable (then nothing is stored and the
/// object shows the descriptor synthesized from its mode bits).
pub fn for_new_object(
    parent: &SecurityDescriptor,
    is_dir: bool,
    owner: Sid,
    group: Sid,
) -> Option<SecurityDescriptor> {
    let dacl = inherited_dacl(parent, is_dir, &owner, &group)?;
    Some(SecurityDescriptor {
        control: control::SELF_RELATIVE
            | control::DACL_PRESENT
            | (parent.control & control::DACL_AUTO_INHERITED),
        owner: Some(owner),
        group: Some(group),
        sacl: None,
        dacl: Some(dacl),
    })
}

/// The DACL a new object inherits from its parent directory's descriptor (MS-DTYP 2.5.3.4.2
/// ComputeACL, simplified: no object ACEs, no SACL), or `None` when the parent has no
/// inheritable ACE. A file takes the OBJECT_INHERIT ACEs; a directory the CONTAINER_INHERIT
/// ones as its own and keeps passing on both kinds unless NO_PROPAGATE says otherwise. In the
/// ACEs that apply to the new object, CREATOR OWNER (S-1-3-0) and CREATOR GROUP (S-1-3-1)
/// become `owner` and `group` and generic rights are mapped; where that changes an ACE a
/// directory also keeps the original as an inherit-only ACE for its children.
pub fn inherited_dacl(
    parent: &SecurityDescriptor,
    is_dir: bool,
    owner: &Sid,
    group: &Sid,
) -> Option<Acl> {
    use ace_flags::{
        CONTAINER_INHERIT as CI, INHERITED, INHERIT_ONLY as IO, NO_PROPAGATE as NP,
        OBJECT_INHERIT as OI,
    };
    let dacl = parent.dacl.as_ref()?;
    let creator_owner = Sid {
        authority: 3,
        sub_authorities: vec![0],
    };
    let creator_group = Sid {
        authority: 3,
        sub_authorities: vec![1],
    };
    let effective = |a: &Ace| -> (Ace, bool) {
        let mut e = a.clone();
        e.flags = INHERITED;
        e.mask = map_generic_file(a.mask);
        let mut changed = e.mask != a.mask;
        match a.sid() {
            Some(s) if s == creator_owner => {
                e.body = owner.to_bytes();
                changed = true;
            }
            Some(s) if s == creator_group => {
                e.body = group.to_bytes();
                changed = true;
            }
            _ => {}
        }
        (e, changed)
    };
    let mut out = Vec::new();
    for a in &dacl.aces {
        let (oi, ci, np) = (a.flags & OI != 0, a.flags & CI != 0, a.flags & NP != 0);
        if !is_dir {
            if oi {
                out.push(effective(a).0);
            }
            continue;
        }
        let passed_on = |a: &Ace| {
            let mut p = a.clone();
            p.flags = (a.flags & (OI | CI)) | IO | INHERITED;
            p
        };
        if ci {
            let (e, changed) = effective(a);
            if np {
                out.push(e);
            } else if changed {
                out.push(e);
                out.push(passed_on(a));
            } else {
                let mut both = e;
                both.flags = (a.flags & (OI | CI)) | INHERITED;
                out.push(both);
            }
        } else if oi && !np {
            out.push(passed_on(a));
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(Acl {
        revision: dacl.revision,
        aces: out,
    })
}
