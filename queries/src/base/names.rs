//! Names, types, signatures and imports: what every stage after parsing, the on-disk
//! index and the shell all speak of. The syntax tree re-exports `Name` and `Type`.

use std::sync::Arc;

use super::path::ModulePath;

/// An identifier. Shared, because names are copied into ZIR and AIR.
pub type Name = Arc<str>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    I32,
    I64,
    Bool,
    Void,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::I32 => "i32",
            Type::I64 => "i64",
            Type::Bool => "bool",
            Type::Void => "void",
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Type::I32 | Type::I64)
    }
}

/// A function's parameter and return types. `None` stands for a type that was already
/// reported as an error, so that callers do not report it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    pub params: Vec<Option<Type>>,
    pub ret: Option<Type>,
    /// False when the parameter list did not parse (already reported): `params` is what
    /// could be parsed, and a call is not checked against it. A function without
    /// errors always has a complete signature.
    pub complete: bool,
}

/// One import, without positions, so that moving it does not invalidate its readers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Import {
    pub alias: Name,
    /// The imported module, or `None` when the path is absolute or empty.
    pub target: Option<ModulePath>,
}
