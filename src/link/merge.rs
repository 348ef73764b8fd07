//! Merges relocatable ELF objects into one, in process — what `ld -r` does, restricted
//! to the objects LLVM emits for mini (no COMDAT groups, no common symbols). Sections
//! with the same name, type and flags are concatenated; symbols and relocations are
//! renumbered. Per-function objects go through here into link units, so the final link
//! sees a few hundred inputs instead of tens of thousands, without writing each function
//! object to disk first.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use object::elf;
use object::read::elf::{ElfFile64, SectionHeader};
use object::write::{self, Relocation, SectionId, StandardSegment, Symbol, SymbolId, SymbolSection};
use object::{
    Endianness, Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionIndex, SectionKind,
    SymbolFlags, SymbolIndex, SymbolKind, SymbolScope,
};

/// LLVM's address-significance table; only meaningful to a final link with ICF.
const SHT_LLVM_ADDRSIG: u32 = 0x6fff_4c03;

/// Section types that carry no content of their own, or that this merge rebuilds.
fn is_structural(sh_type: u32) -> bool {
    matches!(
        sh_type,
        elf::SHT_NULL
            | elf::SHT_SYMTAB
            | elf::SHT_STRTAB
            | elf::SHT_RELA
            | elf::SHT_REL
            | elf::SHT_GROUP
            | SHT_LLVM_ADDRSIG
    )
}

/// Where an input symbol went.
#[derive(Clone, Copy)]
enum Mapped {
    Symbol(SymbolId),
    /// A section symbol: relocations against it target the output section's symbol with
    /// the input section's offset added to the addend.
    Section(SectionId, u64),
    Dropped,
}

pub fn merge_objects<'a>(inputs: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>> {
    let mut merger: Option<Merger> = None;
    for (index, data) in inputs.into_iter().enumerate() {
        let file = ElfFile64::<Endianness>::parse(data).with_context(|| format!("object #{index} is not ELF64"))?;
        let merger = merger.get_or_insert_with(|| Merger::new(&file));
        merger.add(&file).with_context(|| format!("merging object #{index}"))?;
    }
    let Some(merger) = merger else { bail!("no objects to merge") };
    merger.out.write().map_err(|e| anyhow::anyhow!("writing merged object: {e}"))
}

struct Merger {
    out: write::Object<'static>,
    sections: HashMap<(Vec<u8>, u32, u64), SectionId>,
    globals: HashMap<Vec<u8>, SymbolId>,
}

impl Merger {
    fn new(first: &ElfFile64<Endianness>) -> Merger {
        let mut out = write::Object::new(object::BinaryFormat::Elf, first.architecture(), first.endianness());
        out.flags = first.flags();
        Merger { out, sections: HashMap::new(), globals: HashMap::new() }
    }

    fn add(&mut self, file: &ElfFile64<Endianness>) -> Result<()> {
        let endian = file.endian();
        let mut placed: HashMap<SectionIndex, (SectionId, u64)> = HashMap::new();
        for section in file.sections() {
            let header = section.elf_section_header();
            let sh_type = header.sh_type(endian);
            if is_structural(sh_type) {
                continue;
            }
            // Mergeable-string flags need an entry size the writer does not keep; the
            // final link simply does not deduplicate these strings.
            let sh_flags = header.sh_flags(endian) & !u64::from(elf::SHF_MERGE | elf::SHF_STRINGS);
            let name = section.name_bytes()?.to_vec();
            let key = (name.clone(), sh_type, sh_flags);
            let out = &mut self.out;
            let id = *self.sections.entry(key).or_insert_with(|| {
                // The writer only lays out uninitialized data for its own bss kind.
                let kind =
                    if sh_type == elf::SHT_NOBITS { SectionKind::UninitializedData } else { SectionKind::Elf(sh_type) };
                let id = out.add_section(out.segment_name(StandardSegment::Text).to_vec(), name, kind);
                out.section_mut(id).flags = object::SectionFlags::Elf { sh_flags };
                id
            });
            let align = section.align().max(1);
            let offset = if sh_type == elf::SHT_NOBITS {
                self.out.append_section_bss(id, section.size(), align)
            } else {
                self.out.append_section_data(id, section.data()?, align)
            };
            placed.insert(section.index(), (id, offset));
        }

        let mut symbols: HashMap<SymbolIndex, Mapped> = HashMap::new();
        for symbol in file.symbols() {
            let mapped = self.add_symbol(file, &symbol, &placed)?;
            symbols.insert(symbol.index(), mapped);
        }

        for section in file.sections() {
            let Some(&(id, base)) = placed.get(&section.index()) else {
                continue;
            };
            for (offset, reloc) in section.relocations() {
                let RelocationFlags::Elf { r_type } = reloc.flags() else { bail!("unexpected relocation kind") };
                let (symbol, addend) = match reloc.target() {
                    RelocationTarget::Symbol(index) => match symbols.get(&index).copied() {
                        Some(Mapped::Symbol(symbol)) => (symbol, reloc.addend()),
                        Some(Mapped::Section(section, section_base)) => {
                            (self.out.section_symbol(section), reloc.addend() + section_base as i64)
                        }
                        Some(Mapped::Dropped) | None => {
                            bail!("relocation against a dropped symbol")
                        }
                    },
                    RelocationTarget::Section(index) => {
                        let &(section, section_base) =
                            placed.get(&index).context("relocation against a dropped section")?;
                        (self.out.section_symbol(section), reloc.addend() + section_base as i64)
                    }
                    _ => bail!("unsupported relocation target"),
                };
                self.out
                    .add_relocation(
                        id,
                        Relocation { offset: base + offset, symbol, addend, flags: RelocationFlags::Elf { r_type } },
                    )
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        Ok(())
    }

    fn add_symbol(
        &mut self,
        file: &ElfFile64<Endianness>,
        symbol: &object::read::elf::ElfSymbol64<Endianness>,
        placed: &HashMap<SectionIndex, (SectionId, u64)>,
    ) -> Result<Mapped> {
        let endian = file.endian();
        let raw = symbol.elf_symbol();
        let st_info = raw.st_info;
        let st_other = raw.st_other;
        let st_type = st_info & 0xf;
        if st_type == elf::STT_FILE {
            return Ok(Mapped::Dropped);
        }
        let placement = match symbol.section() {
            object::SymbolSection::Section(index) => match placed.get(&index) {
                Some(&(section, base)) => Some((section, base)),
                None => return Ok(Mapped::Dropped),
            },
            object::SymbolSection::Undefined => None,
            object::SymbolSection::Absolute => None,
            other => bail!("unsupported symbol section {other:?}"),
        };
        if st_type == elf::STT_SECTION {
            let (section, base) = placement.context("section symbol without a section")?;
            return Ok(Mapped::Section(section, base));
        }
        let name = symbol.name_bytes()?.to_vec();
        let is_global = symbol.is_global() || symbol.is_weak();
        let kind = match st_type {
            elf::STT_FUNC => SymbolKind::Text,
            elf::STT_OBJECT => SymbolKind::Data,
            elf::STT_TLS => SymbolKind::Tls,
            _ => SymbolKind::Unknown,
        };
        let (section, value) = match placement {
            Some((section, base)) => (SymbolSection::Section(section), base + raw.st_value.get(endian)),
            None if symbol.section() == object::SymbolSection::Absolute => {
                (SymbolSection::Absolute, raw.st_value.get(endian))
            }
            None => (SymbolSection::Undefined, 0),
        };
        let new_symbol = Symbol {
            name: name.clone(),
            value,
            size: raw.st_size.get(endian),
            kind,
            scope: if is_global { SymbolScope::Dynamic } else { SymbolScope::Compilation },
            weak: symbol.is_weak(),
            section,
            flags: SymbolFlags::Elf { st_info, st_other },
        };
        if !is_global {
            return Ok(Mapped::Symbol(self.out.add_symbol(new_symbol)));
        }
        match self.globals.get(&name).copied() {
            None => {
                let id = self.out.add_symbol(new_symbol);
                self.globals.insert(name, id);
                Ok(Mapped::Symbol(id))
            }
            Some(existing) => {
                let defined = !matches!(self.out.symbol(existing).section, SymbolSection::Undefined);
                if section != SymbolSection::Undefined {
                    if defined {
                        bail!("symbol '{}' is defined twice", String::from_utf8_lossy(&name));
                    }
                    *self.out.symbol_mut(existing) = new_symbol;
                }
                Ok(Mapped::Symbol(existing))
            }
        }
    }
}
