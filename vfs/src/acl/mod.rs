//! # Security descriptors: one permission model for every protocol
//!
//! A security descriptor a client sets over SMB is stored with the object (extended attribute
//! [`crate::SECURITY_DESCRIPTOR_XATTR`], [`eval::STORE_VERSION`] then the self-relative form)
//! and binds every caller, as OneFS's unified permissions do: the mode bits decide first and the
//! DACL can only take rights away. [`crate::LocalFs`] evaluates it at its permission points
//! (`local/acl.rs`) for NFS and SMB alike; new files and directories inherit their parent's
//! inheritable ACEs whichever protocol made them.
//!
//! Tour:
//! - [`descriptor`]: the codec (SID, ACE, ACL, SECURITY_DESCRIPTOR; MS-DTYP 2.4), merge and
//!   select by SECURITY_INFORMATION, generic-rights mapping.
//! - [`eval`]: the caller's token, the DACL access check (MS-DTYP 2.5.3.2 simplified: no
//!   privileges, object or conditional ACEs), what it leaves a caller, NFS ACCESS narrowing.
//! - [`inherit`]: the DACL a new object inherits (MS-DTYP 2.5.3.4).
//! - [`reader`]: the bounded reader the codec decodes with.

pub mod descriptor;
pub mod eval;
pub mod inherit;
pub mod reader;

pub use descriptor::{
    ace_flags, ace_type, control, info, map_generic_file, Ace, Acl, SecurityDescriptor, Sid,
    HEADER_LEN, MAX_DESCRIPTOR_LEN, MAX_SUB_AUTHORITIES,
};
pub use eval::{rights, UserSids};
pub use inherit::inherited_dacl;
pub use reader::{DecodeError, Reader};

#[cfg(test)]
mod tests;
