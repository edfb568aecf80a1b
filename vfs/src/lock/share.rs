//! Share-access checks (MS-FSA 2.1.5.1.2, Windows `IoCheckShareAccess`).
//!
//! Only opens that read, write, execute or delete take part: an open for attributes or the
//! security descriptor alone neither conflicts with others nor is refused by them.

use super::access::{APPEND_DATA, DELETE, EXECUTE, READ_DATA, WRITE_DATA};
use super::share_access;

/// Access bits that make an open take part in share-mode checks.
pub const DATA_ACCESS: u32 = READ_DATA | WRITE_DATA | APPEND_DATA | EXECUTE | DELETE;

/// True when an open with (`access`, `share`) may coexist with one holding
/// (`other_access`, `other_share`).
pub fn compatible(access: u32, share: u32, other_access: u32, other_share: u32) -> bool {
    if access & DATA_ACCESS == 0 || other_access & DATA_ACCESS == 0 {
        return true;
    }
    let denies = |acc: u32, shr: u32| {
        (acc & (READ_DATA | EXECUTE) != 0 && shr & share_access::READ == 0)
            || (acc & (WRITE_DATA | APPEND_DATA) != 0 && shr & share_access::WRITE == 0)
            || (acc & DELETE != 0 && shr & share_access::DELETE == 0)
    };
    !denies(access, other_share) && !denies(other_access, share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use share_access::{ALL, DELETE as SD, READ as SR, WRITE as SW};

    #[test]
    fn attribute_only_opens_never_conflict() {
        assert!(compatible(0x80, 0, READ_DATA, 0));
        assert!(compatible(READ_DATA, 0, 0x0010_0080, 0));
    }

    #[test]
    fn deny_write_refuses_writers_but_not_readers() {
        assert!(!compatible(WRITE_DATA, ALL, READ_DATA, SR));
        assert!(!compatible(APPEND_DATA, ALL, READ_DATA, SR));
        assert!(compatible(READ_DATA, ALL, READ_DATA, SR));
    }

    #[test]
    fn the_new_open_must_share_what_the_old_one_uses() {
        // Old open writes; new open shares only read: refused.
        assert!(!compatible(READ_DATA, SR, WRITE_DATA, ALL));
        assert!(compatible(READ_DATA, SR | SW, WRITE_DATA, ALL));
    }

    #[test]
    fn delete_needs_share_delete_both_ways() {
        assert!(!compatible(DELETE, ALL, READ_DATA, SR | SW));
        assert!(compatible(DELETE, ALL, READ_DATA, ALL));
        assert!(!compatible(READ_DATA, SR, DELETE, ALL));
        assert!(compatible(READ_DATA, SR | SD, DELETE, ALL));
    }

    #[test]
    fn execute_counts_as_read() {
        assert!(!compatible(EXECUTE, ALL, READ_DATA, SW));
    }
}
