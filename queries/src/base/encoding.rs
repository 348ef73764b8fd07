//! Hashes and the canonical encoder that makes them: blake3 over a length-prefixed,
//! tagged encoding, so that distinct values can never encode to the same bytes. Every
//! key of the cache — function hashes, unit and link keys, index names — is made here.

use std::fmt;

use super::identity::{COMPILER_ID, llvm_version};
use super::names::{Signature, Type};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn to_hex(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_string()[..12])
    }
}

/// A canonical encoder feeding blake3. Every variable-length item is length-prefixed and
/// every enum variant tagged, so distinct values can never encode to the same bytes.
pub struct Encoder {
    hasher: blake3::Hasher,
}

impl Encoder {
    /// An encoder for one kind of key; `domain` keeps different kinds apart, and the
    /// compiler's identity and LLVM's version keep different compilers apart.
    pub fn new(domain: &str) -> Encoder {
        let mut encoder = Encoder { hasher: blake3::Hasher::new() };
        encoder.str(domain);
        encoder.str(COMPILER_ID);
        encoder.str(llvm_version());
        encoder
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.hasher.update(&[value]);
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.hasher.update(&value.to_le_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.hasher.update(&value.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.u64(value.len() as u64);
        self.hasher.update(value);
        self
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    pub fn encode(&mut self, value: &(impl Encode + ?Sized)) -> &mut Self {
        value.encode(self);
        self
    }

    pub fn finish(&self) -> Hash {
        Hash(*self.hasher.finalize().as_bytes())
    }
}

/// A value's canonical encoding. Implemented beside each type that goes into a key.
pub trait Encode {
    fn encode(&self, e: &mut Encoder);
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, e: &mut Encoder) {
        (**self).encode(e);
    }
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, e: &mut Encoder) {
        e.u64(self.len() as u64);
        for item in self {
            item.encode(e);
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, e: &mut Encoder) {
        self.as_slice().encode(e);
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            None => e.u8(0),
            Some(value) => e.u8(1).encode(value),
        };
    }
}

impl Encode for u32 {
    fn encode(&self, e: &mut Encoder) {
        e.u32(*self);
    }
}

impl Encode for str {
    fn encode(&self, e: &mut Encoder) {
        e.str(self);
    }
}

impl Encode for Hash {
    fn encode(&self, e: &mut Encoder) {
        e.bytes(&self.0);
    }
}

impl Encode for Type {
    fn encode(&self, e: &mut Encoder) {
        e.u8(match self {
            Type::I32 => 1,
            Type::I64 => 2,
            Type::Bool => 3,
            Type::Void => 4,
        });
    }
}

impl Encode for Signature {
    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.params).encode(&self.ret).u8(u8::from(self.complete));
    }
}
