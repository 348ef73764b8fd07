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

/// A canonical encoder: every variable-length item is length-prefixed and every enum
/// variant tagged, so distinct values can never encode to the same bytes — and so an
/// encoding can be decoded again (`Decoder`). It feeds blake3 (a key: `new`) or a buffer
/// (bytes for the code generator: `wire`), through the same `Encode` impls, so what a
/// key covers and what the code generator receives are one encoding.
pub struct Encoder {
    sink: Sink,
}

#[allow(
    clippy::large_enum_variant,
    reason = "keys are made on the stack, many per build, as before there were wire encoders"
)]
enum Sink {
    Hash(blake3::Hasher),
    Bytes(Vec<u8>),
}

impl Encoder {
    /// An encoder for one kind of key; `domain` keeps different kinds apart, and the
    /// compiler's identity and LLVM's version keep different compilers apart.
    pub fn new(domain: &str) -> Encoder {
        let mut encoder = Encoder { sink: Sink::Hash(blake3::Hasher::new()) };
        encoder.str(domain);
        encoder.str(COMPILER_ID);
        encoder.str(llvm_version());
        encoder
    }

    /// An encoder into bytes, with nothing in front: `into_bytes` returns the encoding.
    pub fn wire() -> Encoder {
        Encoder { sink: Sink::Bytes(Vec::new()) }
    }

    fn put(&mut self, bytes: &[u8]) {
        match &mut self.sink {
            Sink::Hash(hasher) => {
                hasher.update(bytes);
            }
            Sink::Bytes(buffer) => buffer.extend_from_slice(bytes),
        }
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.put(&[value]);
        self
    }

    /// Integers are LEB128 varints — seven bits a byte, low bits first, the high bit set
    /// on every byte but the last — so that the ids and lengths an encoding is mostly
    /// made of take a byte each: a large one-shot build keeps every function's encoded
    /// input from its check to its code generation (`hash::fn_input_bytes`).
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.u64(u64::from(value))
    }

    pub fn u64(&mut self, mut value: u64) -> &mut Self {
        let mut bytes = [0u8; 10];
        let mut len = 0;
        loop {
            let low = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                bytes[len] = low;
                len += 1;
                break;
            }
            bytes[len] = low | 0x80;
            len += 1;
        }
        self.put(&bytes[..len]);
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.u64(value.len() as u64);
        self.put(value);
        self
    }

    /// Bytes already encoded (`wire`), appended as they are: a key over an encoding
    /// covers exactly its bytes.
    pub fn raw(&mut self, value: &[u8]) -> &mut Self {
        self.put(value);
        self
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    pub fn encode(&mut self, value: &(impl Encode + ?Sized)) -> &mut Self {
        value.encode(self);
        self
    }

    /// The key. Only for an encoder made by `new`.
    pub fn finish(&self) -> Hash {
        match &self.sink {
            Sink::Hash(hasher) => Hash(*hasher.finalize().as_bytes()),
            Sink::Bytes(_) => panic!("a wire encoder has no key: use `into_bytes`"),
        }
    }

    /// The encoding. Only for an encoder made by `wire`.
    pub fn into_bytes(self) -> Vec<u8> {
        match self.sink {
            Sink::Bytes(buffer) => buffer,
            Sink::Hash(_) => panic!("a key's encoder keeps no bytes: use `finish`"),
        }
    }
}

/// Why bytes did not decode: they are not an encoding of the expected value (a bug in
/// one of the two ends, or bytes from another build of the compiler).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed encoding: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Reads back what an `Encoder::wire` wrote, item by item, in the same order.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Decoder<'a> {
        Decoder { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end =
            end.ok_or_else(|| DecodeError(format!("{n} bytes wanted at {}, {} there", self.pos, self.bytes.len())))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        u32::try_from(self.u64()?).map_err(|_| DecodeError(format!("a u32 out of range at {at}")))
    }

    /// A varint as `Encoder::u64` writes it, and only so: one with a byte too many (a
    /// zero last byte) or bits beyond 64 is refused, as another encoding of the value.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let at = self.pos;
        let mut value = 0u64;
        for (i, shift) in (0..64).step_by(7).enumerate() {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if (shift == 63 && bits > 1) || (i > 0 && byte == 0) {
                return Err(DecodeError(format!("a malformed integer at {at}")));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError(format!("a malformed integer at {at}")))
    }

    /// A length, checked against what is left, so that a bad one cannot ask for a huge
    /// allocation.
    pub fn len(&mut self) -> Result<usize, DecodeError> {
        let len = self.u64()?;
        usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.bytes.len() - self.pos)
            .ok_or_else(|| DecodeError(format!("a length of {len} at {}", self.pos)))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.len()?;
        self.take(len)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError(format!("a string that is not UTF-8 at {at}")))
    }

    pub fn decode<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.is_empty() {
            true => Ok(()),
            false => Err(DecodeError(format!("{} bytes left over", self.bytes.len() - self.pos))),
        }
    }

    /// An error naming what was wrong at the current position.
    pub fn error(&self, what: &str) -> DecodeError {
        DecodeError(format!("{what} at {}", self.pos))
    }
}

/// The inverse of `Encode`: `T::decode` reads exactly what `T::encode` wrote.
pub trait Decode: Sized {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError>;
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        // Every item takes at least a byte, which bounds the allocation.
        let len = d.len()?;
        (0..len).map(|_| T::decode(d)).collect()
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match d.u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(d)?)),
            _ => Err(d.error("an option tag")),
        }
    }
}

impl Decode for u32 {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.u32()
    }
}

impl Decode for Type {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(match d.u8()? {
            1 => Type::I32,
            2 => Type::I64,
            3 => Type::Bool,
            4 => Type::Void,
            _ => return Err(d.error("a type")),
        })
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

#[cfg(test)]
mod tests {
    use super::{Decoder, Encoder};

    fn encoded(value: u64) -> Vec<u8> {
        let mut e = Encoder::wire();
        e.u64(value);
        e.into_bytes()
    }

    #[test]
    fn integers_take_a_byte_per_seven_bits_and_decode_back() {
        for (value, len) in [(0, 1), (1, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (u64::from(u32::MAX), 5)] {
            let bytes = encoded(value);
            assert_eq!(bytes.len(), len, "{value}");
            let mut d = Decoder::new(&bytes);
            assert_eq!(d.u64(), Ok(value));
            assert!(d.is_empty());
        }
        let bytes = encoded(u64::MAX);
        assert_eq!(bytes.len(), 10);
        assert_eq!(Decoder::new(&bytes).u64(), Ok(u64::MAX));
        // -1 as an i64 literal is encoded as its bits, like any u64.
        assert_eq!(Decoder::new(&encoded(-1i64 as u64)).u64(), Ok(u64::MAX));
    }

    #[test]
    fn an_integer_encoded_any_other_way_is_refused() {
        let refused = |bytes: &[u8]| Decoder::new(bytes).u64().is_err();
        assert!(refused(&[0x80, 0x00]), "a zero byte too many");
        assert!(refused(&[0xff, 0x80, 0x00]), "a zero byte too many, after others");
        assert!(refused(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), "bits past 64");
        assert!(refused(&[0xff; 11]), "more than ten bytes");
        assert!(refused(&[0x80]), "cut short");
        assert!(Decoder::new(&encoded(u64::from(u32::MAX) + 1)).u32().is_err(), "a u32 out of range");
    }
}
