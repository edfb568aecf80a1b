//! `wire_enum!`: open newtypes with named constants (STYLE.md 3).

/// Declares `pub struct $name(pub u32)` with named constants; unknown values round-trip and
/// `Debug` prints the constant's name when there is one.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $konst:ident = $val:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub u32);

        impl $name {
            $( $(#[$vmeta])* pub const $konst: $name = $name($val); )*

            /// The spec's name of this value, if it is a known one.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$konst => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl $crate::xdr::Decode for $name {
            fn decode(r: &mut $crate::xdr::Reader<'_>) -> Result<Self, $crate::DecodeError> {
                Ok($name(r.u32()?))
            }
        }

        impl $crate::xdr::Encode for $name {
            fn encode<B: ::bytes::BufMut>(&self, out: &mut B) {
                out.put_u32(self.0);
            }
        }
    };
}
