//! The compilation directory of `-g` executables, written at link time.
//!
//! Debuggers find a unit's sources at `DW_AT_comp_dir` joined with its name. Objects are
//! cached by content and shared by every checkout of a project, so they must not hold an
//! absolute path (a moved project keeps every hit): code generation writes `.` there.
//! The executable, made for one place, gets the real directory: after the link,
//! `set_comp_dir` points every compilation unit's `DW_AT_comp_dir` at a new string, the
//! entry file's absolute directory, appended to a copy of `.debug_str` at the end of the
//! file (the section header is moved to the copy; the old bytes stay, unused).
//!
//! It reads just enough DWARF for what mini's code generation emits — version 2 to 4
//! unit headers, 32-bit format, the first entry's attributes in fixed-size or LEB128
//! forms — and refuses anything else, leaving the file unchanged.

use std::path::Path;

use anyhow::{Context, Result, bail};
use object::read::elf::{ElfFile64, SectionHeader as _};
use object::{Endianness, Object, ObjectSection};

const DW_AT_COMP_DIR: u64 = 0x1b;
const DW_FORM_STRP: u64 = 0x0e;

/// Rewrites the executable at `path` so that every compilation unit's directory is
/// `dir`. Returns how many units were changed.
pub fn set_comp_dir(path: &Path, dir: &Path) -> Result<usize> {
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let dir = dir.to_str().context("the compilation directory is not UTF-8")?;
    let count = patch(&mut bytes, dir)?;
    if count > 0 {
        std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(count)
}

/// Where a section is in the file, and where its header is.
struct Located {
    offset: usize,
    size: usize,
    header: usize,
}

fn patch(bytes: &mut Vec<u8>, dir: &str) -> Result<usize> {
    let (info, abbrev, strings) = {
        let file = ElfFile64::<Endianness>::parse(&bytes[..]).context("not an ELF64 executable")?;
        if file.endianness() != Endianness::Little {
            bail!("only little-endian executables");
        }
        let header_table = file.elf_header().e_shoff.get(Endianness::Little) as usize;
        let locate = |name: &str| -> Result<Option<Located>> {
            let Some(section) = file.section_by_name(name) else { return Ok(None) };
            let header = section.elf_section_header();
            if header.sh_flags(Endianness::Little) & u64::from(object::elf::SHF_COMPRESSED) != 0 {
                bail!("{name} is compressed");
            }
            let (offset, size) = section.file_range().context("a debug section without contents")?;
            let header = header_table + section.index().0 * size_of::<object::elf::SectionHeader64<Endianness>>();
            Ok(Some(Located { offset: offset as usize, size: size as usize, header }))
        };
        match (locate(".debug_info")?, locate(".debug_abbrev")?, locate(".debug_str")?) {
            (Some(info), Some(abbrev), Some(strings)) => (info, abbrev, strings),
            // No debug information: nothing to point anywhere.
            _ => return Ok(0),
        }
    };

    // Where each unit's DW_AT_comp_dir offset is, in the file.
    let mut fields = Vec::new();
    let info_bytes = &bytes[info.offset..info.offset + info.size];
    let abbrev_bytes = &bytes[abbrev.offset..abbrev.offset + abbrev.size];
    let mut unit = 0;
    while unit < info_bytes.len() {
        let mut r = Reader { bytes: info_bytes, at: unit };
        let length = r.u32()? as usize;
        if length >= 0xffff_fff0 {
            bail!("64-bit DWARF");
        }
        let next = r.at + length;
        let version = r.u16()?;
        if !(2..=4).contains(&version) {
            bail!("DWARF version {version}");
        }
        let abbrev_offset = r.u32()? as usize;
        let address_size = r.u8()? as usize;
        let code = r.uleb()?;
        let attributes = abbreviation(abbrev_bytes, abbrev_offset, code)?;
        for (name, form) in attributes {
            if name == DW_AT_COMP_DIR && form == DW_FORM_STRP {
                fields.push(info.offset + r.at);
            }
            if name == DW_AT_COMP_DIR {
                break;
            }
            r.skip_form(form, address_size)?;
        }
        unit = next;
    }
    if fields.is_empty() {
        return Ok(0);
    }

    // A copy of the strings with the directory at the end, and the section moved there.
    let mut strings_copy = bytes[strings.offset..strings.offset + strings.size].to_vec();
    let dir_offset = u32::try_from(strings_copy.len()).context(".debug_str is too large")?;
    strings_copy.extend_from_slice(dir.as_bytes());
    strings_copy.push(0);
    let new_offset = bytes.len() as u64;
    bytes.extend_from_slice(&strings_copy);
    bytes[strings.header + 24..strings.header + 32].copy_from_slice(&new_offset.to_le_bytes());
    bytes[strings.header + 32..strings.header + 40].copy_from_slice(&(strings_copy.len() as u64).to_le_bytes());
    for &field in &fields {
        bytes[field..field + 4].copy_from_slice(&dir_offset.to_le_bytes());
    }
    Ok(fields.len())
}

/// The attributes (name, form) of abbreviation `code` in the table at `offset`.
fn abbreviation(table: &[u8], offset: usize, code: u64) -> Result<Vec<(u64, u64)>> {
    let mut r = Reader { bytes: table, at: offset };
    loop {
        let this = r.uleb()?;
        if this == 0 {
            bail!("abbreviation {code} not found");
        }
        let _tag = r.uleb()?;
        let _children = r.u8()?;
        let mut attributes = Vec::new();
        loop {
            let (name, form) = (r.uleb()?, r.uleb()?);
            if (name, form) == (0, 0) {
                break;
            }
            if form == 0x21 {
                // DW_FORM_implicit_const keeps its value here.
                r.sleb()?;
            }
            attributes.push((name, form));
        }
        if this == code {
            return Ok(attributes);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let slice = self.bytes.get(self.at..self.at + n).context("truncated debug information")?;
        self.at += n;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("two bytes")))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")))
    }

    fn uleb(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("LEB128 number too long")
    }

    fn sleb(&mut self) -> Result<()> {
        while self.u8()? & 0x80 != 0 {}
        Ok(())
    }

    /// Moves past an attribute value of `form`.
    fn skip_form(&mut self, form: u64, address_size: usize) -> Result<()> {
        let size = match form {
            0x01 => address_size,                         // addr
            0x0b | 0x0c | 0x11 => 1,                      // data1, flag, ref1
            0x05 | 0x12 => 2,                             // data2, ref2
            0x06 | 0x0e | 0x10 | 0x13 | 0x17 | 0x1f => 4, // data4, strp, ref_addr, ref4, sec_offset, line_strp
            0x07 | 0x14 | 0x20 => 8,                      // data8, ref8, ref_sig8
            0x19 => 0,                                    // flag_present
            0x0d | 0x0f | 0x15 => {
                // sdata, udata, ref_udata
                self.uleb()?;
                0
            }
            0x08 => {
                // string: up to its NUL
                let end = self.bytes[self.at..].iter().position(|&b| b == 0).context("unterminated string")?;
                end + 1
            }
            other => bail!("unexpected attribute form {other:#x}"),
        };
        self.take(size)?;
        Ok(())
    }
}
