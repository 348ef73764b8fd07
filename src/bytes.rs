//! The little-endian encoding of the shell's own files — the index (`cache/index.rs`)
//! and executables' layouts (`link/saved.rs`): a writer that appends, and a reader that
//! checks every length against what is left, so that damaged or foreign bytes read as
//! `None`, never a panic.

use mini_queries::base::Hash;

/// Bytes being written.
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn bytes_raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.bytes_raw(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes_raw(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.bytes_raw(&v.to_le_bytes());
    }
    /// Bytes after their length (a `u32`).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u32(bytes.len() as u32);
        self.bytes_raw(bytes);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn hash(&mut self, h: Hash) {
        self.bytes_raw(&h.0);
    }
}

/// Bytes being read, from `pos`.
pub struct Reader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    /// Bytes written by `Writer::bytes`.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    pub fn hash(&mut self) -> Option<Hash> {
        Some(Hash(self.array()?))
    }
    /// A count of items of at least `size` bytes each, if that many could follow:
    /// a damaged count must not make the caller allocate for it.
    pub fn count(&mut self, size: usize) -> Option<usize> {
        let count = self.u32()? as usize;
        (count.checked_mul(size)? <= self.bytes.len() - self.pos).then_some(count)
    }
    /// Whether everything was read.
    pub fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}
