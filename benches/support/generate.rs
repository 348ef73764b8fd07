//! Generates mini programs for benchmarks, deterministically from a seed.
//!
//! Shapes:
//! - `Tree`: the tutorial's benchmark — file i imports files 2i+1 and 2i+2;
//! - `Chain`: file i imports file i+1;
//! - `Star`: every file imports one load-bearing module, and the entry imports all;
//! - `Wide`: like `Tree`, with 30 functions per file.
//!
//! Every function is reachable from `main`, does a little arithmetic, and the program
//! prints one checksum and exits with it modulo 256, so a wrong build is visible.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Tree,
    Chain,
    Star,
    Wide,
}

impl Shape {
    pub fn parse(name: &str) -> Option<Shape> {
        Some(match name {
            "tree" => Shape::Tree,
            "chain" => Shape::Chain,
            "star" => Shape::Star,
            "wide" => Shape::Wide,
            _ => return None,
        })
    }
}

/// A generated program: per file, its imports and functions, as data, so that twins in
/// other languages can be rendered from the same model.
#[derive(Clone, Debug)]
pub struct Program {
    pub files: Vec<File>,
    pub shape: Shape,
}

#[derive(Clone, Debug)]
pub struct File {
    /// Indices of the files this one imports.
    pub imports: Vec<usize>,
    pub functions: Vec<Function>,
}

#[derive(Clone, Debug)]
pub struct Function {
    /// Multiplier and addend of the function's arithmetic.
    pub a: i32,
    pub b: i32,
    /// Calls: (file, function) pairs, each a callee that is "lower" in the graph.
    pub calls: Vec<(usize, usize)>,
}

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

impl Program {
    /// A program of `files` files in the given shape.
    pub fn generate(shape: Shape, files: usize, seed: u64) -> Program {
        let mut rng = Rng::new(seed);
        let imports_of = |i: usize| -> Vec<usize> {
            match shape {
                Shape::Tree | Shape::Wide => [2 * i + 1, 2 * i + 2].into_iter().filter(|&c| c < files).collect(),
                Shape::Chain => (i + 1 < files).then_some(i + 1).into_iter().collect(),
                // File 1 is the load-bearing module; everyone else imports it; the entry
                // imports everything so that all files are part of the program.
                Shape::Star => match i {
                    0 => (1..files).collect(),
                    1 => Vec::new(),
                    _ => vec![1],
                },
            }
        };
        let mut program = Program { files: Vec::with_capacity(files), shape };
        for i in 0..files {
            let count = if shape == Shape::Wide { 30 } else { rng.range(2, 4) as usize };
            let imports = imports_of(i);
            let mut functions = Vec::with_capacity(count);
            for k in 0..count {
                let mut calls = Vec::new();
                if k + 1 < count {
                    // Each function but the last calls the next one in its file…
                    calls.push((i, k + 1));
                } else {
                    // …and the last one calls the first function of each import.
                    calls.extend(imports.iter().map(|&c| (c, 0)));
                }
                functions.push(Function { a: rng.range(1, 9) as i32, b: rng.range(0, 99) as i32, calls });
            }
            program.files.push(File { imports, functions });
        }
        if shape == Shape::Star && files > 2 {
            // In a star, the entry's last function reaches every other file.
            let last = program.files[0].functions.len() - 1;
            program.files[0].functions[last].calls = (1..files).map(|c| (c, 0)).collect();
        }
        program
    }

    pub fn function_count(&self) -> usize {
        self.files.iter().map(|f| f.functions.len()).sum()
    }

    /// The module path of file `i`: the entry is `main.mini`, the rest live in `src/`.
    pub fn module(i: usize) -> String {
        if i == 0 { "main.mini".to_string() } else { format!("src/m{i}.mini") }
    }

    pub fn function_name(file: usize, index: usize) -> String {
        format!("f{file}_{index}")
    }

    /// The mini source of file `i`.
    pub fn render_mini(&self, i: usize) -> String {
        let file = &self.files[i];
        let mut out = String::new();
        let _ = writeln!(out, "// Generated benchmark module {i}.");
        for &c in &file.imports {
            let path = if i == 0 { format!("src/m{c}.mini") } else { format!("m{c}.mini") };
            let _ = writeln!(out, "import \"{path}\" as m{c};");
        }
        for (k, f) in file.functions.iter().enumerate() {
            let _ = writeln!(out, "\npub fn {}(x: i32) i32 {{", Self::function_name(i, k));
            let _ = writeln!(out, "    var acc: i32 = x * {} + {};", f.a, f.b);
            for &(cf, ck) in &f.calls {
                let callee = Self::function_name(cf, ck);
                if cf == i {
                    let _ = writeln!(out, "    acc += {callee}(acc % 7);");
                } else {
                    let _ = writeln!(out, "    acc += m{cf}.{callee}(acc % 7);");
                }
            }
            let _ = writeln!(out, "    return acc;\n}}");
        }
        if i == 0 {
            let _ = writeln!(out, "\nfn main() i32 {{\n    const result = {}(1);", Self::function_name(0, 0));
            let _ = writeln!(out, "    @print(result);\n    return result;\n}}");
        }
        out
    }

    /// Writes the mini program under `dir`.
    pub fn write_mini(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("src"))?;
        for i in 0..self.files.len() {
            std::fs::write(dir.join(Self::module(i)), self.render_mini(i))?;
        }
        Ok(())
    }

    /// What the program prints: evaluated here, with the language's wrapping semantics.
    pub fn expected_output(&self) -> i32 {
        self.eval(0, 0, 1)
    }

    fn eval(&self, file: usize, index: usize, x: i32) -> i32 {
        let f = &self.files[file].functions[index];
        let mut acc = x.wrapping_mul(f.a).wrapping_add(f.b);
        for &(cf, ck) in &f.calls {
            acc = acc.wrapping_add(self.eval(cf, ck, acc % 7));
        }
        acc
    }
}
