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
//!
//! The program is kept as data (`Program`), so that it can be edited (`edit_comment`,
//! `set_addend`, `insert_statement`, `add_parameter`, `add_function`, …) and rendered as
//! mini or as a *twin* in C, Zig or Rust (`render`, `project_files`): the same functions,
//! the same calls, the same wrapping `i32` arithmetic (`%` has the sign of the dividend),
//! the same printed checksum and exit status. `expected_output` evaluates the model.

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

    pub fn name(self) -> &'static str {
        match self {
            Shape::Tree => "tree",
            Shape::Chain => "chain",
            Shape::Star => "star",
            Shape::Wide => "wide",
        }
    }
}

/// A language a program can be rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    Mini,
    C,
    Zig,
    Rust,
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
    /// Bumped by a comment-only edit: it shows in the file's header comment only.
    pub revision: u32,
}

#[derive(Clone, Debug)]
pub struct Function {
    /// Multiplier and addend of the function's arithmetic.
    pub a: i32,
    pub b: i32,
    /// Calls: (file, function) pairs, each a callee that is "lower" in the graph.
    pub calls: Vec<(usize, usize)>,
    /// Parameters after `x`, named `p1…pN`: each caller passes `j` for `pj`, and the
    /// body adds them to `acc`. A signature edit adds one.
    pub params: usize,
    /// Extra statements `acc += v;`, one line each, after the parameters' (a body edit
    /// that shifts the lines of the functions below it adds one).
    pub extra: Vec<i32>,
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
                functions.push(Function {
                    a: rng.range(1, 9) as i32,
                    b: rng.range(0, 99) as i32,
                    calls,
                    params: 0,
                    extra: Vec::new(),
                });
            }
            program.files.push(File { imports, functions, revision: 0 });
        }
        if shape == Shape::Star && files > 2 {
            // In a star, the entry's last function reaches every other file.
            let last = program.files[0].functions.len() - 1;
            program.files[0].functions[last].calls = (1..files).map(|c| (c, 0)).collect();
        }
        program
    }

    /// Gives about one function in four a multiplier so large that its arithmetic wraps,
    /// which makes values negative and `%` see negative dividends: the twins must agree
    /// with mini on both. Draws from its own stream, so the shape is `generate`'s.
    pub fn with_large_multipliers(mut self, seed: u64) -> Program {
        let mut rng = Rng::new(seed ^ 0x5eed_f1a4_6e00);
        for f in self.files.iter_mut().flat_map(|f| f.functions.iter_mut()) {
            if rng.range(0, 3) == 0 {
                f.a = rng.range(50_000_000, 2_000_000_000) as i32;
            }
        }
        self
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
        let _ = writeln!(out, "{}", self.header(i));
        for &c in &file.imports {
            let path = if i == 0 { format!("src/m{c}.mini") } else { format!("m{c}.mini") };
            let _ = writeln!(out, "import \"{path}\" as m{c};");
        }
        for (k, f) in file.functions.iter().enumerate() {
            let params: String = (1..=f.params).map(|j| format!(", p{j}: i32")).collect();
            let _ = writeln!(out, "\npub fn {}(x: i32{params}) i32 {{", Self::function_name(i, k));
            let _ = writeln!(out, "    var acc: i32 = x * {} + {};", f.a, f.b);
            for j in 1..=f.params {
                let _ = writeln!(out, "    acc += p{j};");
            }
            for v in &f.extra {
                let _ = writeln!(out, "    acc += {v};");
            }
            for &(cf, ck) in &f.calls {
                let callee = Self::function_name(cf, ck);
                let args = self.call_args(cf, ck, "acc % 7");
                if cf == i {
                    let _ = writeln!(out, "    acc += {callee}({args});");
                } else {
                    let _ = writeln!(out, "    acc += m{cf}.{callee}({args});");
                }
            }
            let _ = writeln!(out, "    return acc;\n}}");
        }
        if i == 0 {
            let args = self.call_args(0, 0, "1");
            let _ = writeln!(out, "\nfn main() i32 {{\n    const result = {}({args});", Self::function_name(0, 0));
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

    /// What the program exits with: its result modulo 256.
    pub fn expected_status(&self) -> i32 {
        self.expected_output() & 0xff
    }

    /// How often running the program wraps around and takes the remainder of a negative
    /// number: (wrapping operations, negative dividends).
    pub fn arithmetic_stats(&self) -> (usize, usize) {
        let mut stats = (0, 0);
        self.eval_counting(0, 0, 1, &mut stats);
        stats
    }

    fn eval(&self, file: usize, index: usize, x: i32) -> i32 {
        self.eval_counting(file, index, x, &mut (0, 0))
    }

    fn eval_counting(&self, file: usize, index: usize, x: i32, stats: &mut (usize, usize)) -> i32 {
        let add = |a: i32, b: i32, stats: &mut (usize, usize)| {
            stats.0 += usize::from(a.checked_add(b).is_none());
            a.wrapping_add(b)
        };
        let f = &self.files[file].functions[index];
        stats.0 += usize::from(x.checked_mul(f.a).is_none());
        let mut acc = add(x.wrapping_mul(f.a), f.b, stats);
        for j in 1..=f.params {
            // The caller passes `j` for `pj`.
            acc = add(acc, j as i32, stats);
        }
        for &v in &f.extra {
            acc = add(acc, v, stats);
        }
        for &(cf, ck) in &f.calls {
            stats.1 += usize::from(acc < 0);
            let result = self.eval_counting(cf, ck, acc.wrapping_rem(7), stats);
            acc = add(acc, result, stats);
        }
        acc
    }

    /// The arguments of a call of `(file, index)`: `x`, then `j` for each `pj`.
    fn call_args(&self, file: usize, index: usize, x: &str) -> String {
        let mut args = x.to_string();
        for j in 1..=self.files[file].functions[index].params {
            let _ = write!(args, ", {j}");
        }
        args
    }

    fn header(&self, i: usize) -> String {
        match self.files[i].revision {
            0 => format!("// Generated benchmark module {i}."),
            r => format!("// Generated benchmark module {i}, revision {r}."),
        }
    }

    // ---- Edits: each changes the model; re-render the files they name. ----

    /// A function that calls nothing, as far down the program as possible: the last one
    /// of the last file that has one.
    pub fn leaf(&self) -> (usize, usize) {
        for (i, file) in self.files.iter().enumerate().rev() {
            if let Some(k) = file.functions.iter().rposition(|f| f.calls.is_empty()) {
                return (i, k);
            }
        }
        unreachable!("the last function of a file without imports calls nothing")
    }

    /// The function whose signature the benchmarks change: the first function of file 1
    /// (every file calls it in a star; the entry calls it in the other shapes).
    pub fn load_bearing(&self) -> (usize, usize) {
        (if self.files.len() > 1 { 1 } else { 0 }, 0)
    }

    /// Every function that calls `target`.
    pub fn callers(&self, target: (usize, usize)) -> Vec<(usize, usize)> {
        let mut callers = Vec::new();
        for (i, file) in self.files.iter().enumerate() {
            for (k, f) in file.functions.iter().enumerate() {
                if f.calls.contains(&target) {
                    callers.push((i, k));
                }
            }
        }
        callers
    }

    /// A comment-only edit of file `i`.
    pub fn edit_comment(&mut self, i: usize) -> Vec<usize> {
        self.files[i].revision += 1;
        vec![i]
    }

    /// A body edit that keeps the function's lines: its addend becomes `b`.
    pub fn set_addend(&mut self, (i, k): (usize, usize), b: i32) -> Vec<usize> {
        self.files[i].functions[k].b = b;
        vec![i]
    }

    /// A body edit that adds a line, so every later function of the file moves down.
    pub fn insert_statement(&mut self, (i, k): (usize, usize), value: i32) -> Vec<usize> {
        self.files[i].functions[k].extra.push(value);
        vec![i]
    }

    /// A signature edit: `target` gains a parameter, and every caller passes it.
    /// Returns the files changed: the callee's and its callers'.
    pub fn add_parameter(&mut self, target: (usize, usize)) -> Vec<usize> {
        self.files[target.0].functions[target.1].params += 1;
        let mut files: Vec<usize> =
            std::iter::once(target.0).chain(self.callers(target).into_iter().map(|(i, _)| i)).collect();
        if target == (0, 0) {
            files.push(0); // `main` calls it
        }
        files.sort_unstable();
        files.dedup();
        files
    }

    /// Adds a function that nothing calls at the end of file `i`; returns its index.
    pub fn add_function(&mut self, i: usize, a: i32, b: i32) -> usize {
        self.files[i].functions.push(Function { a, b, calls: Vec::new(), params: 0, extra: Vec::new() });
        self.files[i].functions.len() - 1
    }

    /// Removes the last function of file `i` (undoing `add_function`).
    pub fn remove_last_function(&mut self, i: usize) -> Vec<usize> {
        let removed = self.files[i].functions.pop().expect("a function to remove");
        assert!(removed.calls.is_empty() && self.callers((i, self.files[i].functions.len())).is_empty());
        vec![i]
    }

    // ---- Twins: the same program in other languages. ----

    /// The files module `i` renders to in `lang`, as (path relative to the project, text).
    pub fn render(&self, lang: Lang, i: usize) -> Vec<(String, String)> {
        match lang {
            Lang::Mini => vec![(Self::module(i), self.render_mini(i))],
            Lang::C => {
                let stem = Self::c_stem(i);
                vec![(format!("{stem}.h"), self.render_c_header(i)), (format!("{stem}.c"), self.render_c(i))]
            }
            Lang::Zig => vec![(Self::source_path(Lang::Zig, i), self.render_zig(i))],
            Lang::Rust => vec![(Self::source_path(Lang::Rust, i), self.render_rust(i))],
        }
    }

    /// The file that holds module `i`'s function bodies in `lang` (the one to `touch`).
    pub fn source_path(lang: Lang, i: usize) -> String {
        match (lang, i) {
            (Lang::Mini, _) => Self::module(i),
            (Lang::C, _) => format!("{}.c", Self::c_stem(i)),
            (Lang::Zig, 0) => "main.zig".to_string(),
            (Lang::Zig, _) => format!("m{i}.zig"),
            (Lang::Rust, 0) => "src/main.rs".to_string(),
            (Lang::Rust, _) => format!("src/m{i}.rs"),
        }
    }

    /// The build files of a project in `lang`, besides its modules.
    pub fn project_files(&self, lang: Lang) -> Vec<(String, String)> {
        match lang {
            Lang::Mini => Vec::new(),
            Lang::C => vec![("Makefile".to_string(), self.render_makefile())],
            Lang::Zig => vec![("build.zig".to_string(), ZIG_BUILD.to_string())],
            Lang::Rust => vec![("Cargo.toml".to_string(), CARGO_TOML.to_string())],
        }
    }

    /// Where the built executable is, relative to the project.
    pub fn executable(lang: Lang) -> &'static str {
        match lang {
            Lang::Mini | Lang::C => "main",
            Lang::Zig => "zig-out/bin/main",
            Lang::Rust => "target/debug/twin",
        }
    }

    /// Writes the whole project in `lang` under `dir`.
    pub fn write_twin(&self, lang: Lang, dir: &Path) -> std::io::Result<()> {
        let files = (0..self.files.len()).flat_map(|i| self.render(lang, i)).chain(self.project_files(lang));
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent"))?;
            std::fs::write(path, text)?;
        }
        Ok(())
    }

    fn c_stem(i: usize) -> String {
        if i == 0 { "main".to_string() } else { format!("m{i}") }
    }

    /// Whether a function's `acc` is ever assigned after its declaration (Zig rejects a
    /// `var` that is not, Rust warns about a `mut`).
    fn mutates(f: &Function) -> bool {
        f.params > 0 || !f.extra.is_empty() || !f.calls.is_empty()
    }

    fn render_c_header(&self, i: usize) -> String {
        let mut out = String::new();
        let guard = format!("{}_H", Self::c_stem(i).to_uppercase());
        let _ = writeln!(out, "// Generated benchmark module {i}: declarations.");
        let _ = writeln!(out, "#ifndef {guard}\n#define {guard}\n#include <stdint.h>\n");
        for (k, f) in self.files[i].functions.iter().enumerate() {
            let params: String = (1..=f.params).map(|j| format!(", int32_t p{j}")).collect();
            let _ = writeln!(out, "int32_t {}(int32_t x{params});", Self::function_name(i, k));
        }
        let _ = writeln!(out, "\n#endif");
        out
    }

    /// C with `-fwrapv`: `+ - *` wrap like mini's, and `%` has the sign of the dividend.
    fn render_c(&self, i: usize) -> String {
        let file = &self.files[i];
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header(i));
        if i == 0 {
            let _ = writeln!(out, "#include <stdio.h>");
        }
        let _ = writeln!(out, "#include \"{}.h\"", Self::c_stem(i));
        for &c in &file.imports {
            let _ = writeln!(out, "#include \"m{c}.h\"");
        }
        for (k, f) in file.functions.iter().enumerate() {
            let params: String = (1..=f.params).map(|j| format!(", int32_t p{j}")).collect();
            let _ = writeln!(out, "\nint32_t {}(int32_t x{params}) {{", Self::function_name(i, k));
            let _ = writeln!(out, "    int32_t acc = x * {} + {};", f.a, f.b);
            for j in 1..=f.params {
                let _ = writeln!(out, "    acc += p{j};");
            }
            for v in &f.extra {
                let _ = writeln!(out, "    acc += {v};");
            }
            for &(cf, ck) in &f.calls {
                let _ =
                    writeln!(out, "    acc += {}({});", Self::function_name(cf, ck), self.call_args(cf, ck, "acc % 7"));
            }
            let _ = writeln!(out, "    return acc;\n}}");
        }
        if i == 0 {
            let args = self.call_args(0, 0, "1");
            let _ = writeln!(out, "\nint main(void) {{\n    int32_t result = {}({args});", Self::function_name(0, 0));
            let _ = writeln!(out, "    printf(\"%d\\n\", (int)result);\n    return result;\n}}");
        }
        out
    }

    fn render_makefile(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Generated: one object per module; -fwrapv gives mini's wrapping arithmetic.");
        let _ = writeln!(out, "CC = gcc\nCFLAGS = -O0 -fwrapv -MMD -MP\nOBJS = \\");
        for i in 0..self.files.len() {
            let _ = writeln!(out, "\t{}.o \\", Self::c_stem(i));
        }
        let _ = writeln!(out, "\nmain: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n");
        let _ = writeln!(out, "%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n");
        let _ = writeln!(out, "clean:\n\trm -f main $(OBJS) $(OBJS:.o=.d)\n\n.PHONY: clean\n");
        let _ = writeln!(out, "-include $(OBJS:.o=.d)");
        out
    }

    /// Zig with wrapping operators (`*%`, `+%`) and `@rem` (the sign of the dividend).
    fn render_zig(&self, i: usize) -> String {
        let file = &self.files[i];
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header(i));
        if i == 0 {
            let _ = writeln!(out, "const std = @import(\"std\");");
        }
        for &c in &file.imports {
            let _ = writeln!(out, "const m{c} = @import(\"m{c}.zig\");");
        }
        for (k, f) in file.functions.iter().enumerate() {
            let params: String = (1..=f.params).map(|j| format!(", p{j}: i32")).collect();
            let _ = writeln!(out, "\npub fn {}(x: i32{params}) i32 {{", Self::function_name(i, k));
            let binding = if Self::mutates(f) { "var" } else { "const" };
            let _ = writeln!(out, "    {binding} acc: i32 = x *% {} +% {};", f.a, f.b);
            for j in 1..=f.params {
                let _ = writeln!(out, "    acc +%= p{j};");
            }
            for v in &f.extra {
                let _ = writeln!(out, "    acc +%= {v};");
            }
            for &(cf, ck) in &f.calls {
                let callee = Self::function_name(cf, ck);
                let args = self.call_args(cf, ck, "@rem(acc, 7)");
                if cf == i {
                    let _ = writeln!(out, "    acc +%= {callee}({args});");
                } else {
                    let _ = writeln!(out, "    acc +%= m{cf}.{callee}({args});");
                }
            }
            let _ = writeln!(out, "    return acc;\n}}");
        }
        if i == 0 {
            let args = self.call_args(0, 0, "1");
            let _ = writeln!(out, "\npub fn main(init: std.process.Init) u8 {{");
            let _ = writeln!(out, "    const result = {}({args});", Self::function_name(0, 0));
            let _ = writeln!(out, "    var buffer: [16]u8 = undefined;");
            let _ = writeln!(
                out,
                "    const text = std.fmt.bufPrint(&buffer, \"{{d}}\\n\", .{{result}}) catch unreachable;"
            );
            let _ = writeln!(out, "    std.Io.File.stdout().writeStreamingAll(init.io, text) catch {{}};");
            let _ = writeln!(out, "    return @truncate(@as(u32, @bitCast(result)));\n}}");
        }
        out
    }

    /// Rust with `wrapping_*` operations (debug builds check overflow otherwise).
    fn render_rust(&self, i: usize) -> String {
        let file = &self.files[i];
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header(i));
        if i == 0 {
            let _ = writeln!(out, "#![allow(dead_code)]\n");
            for c in 1..self.files.len() {
                let _ = writeln!(out, "mod m{c};");
            }
        }
        for (k, f) in file.functions.iter().enumerate() {
            let params: String = (1..=f.params).map(|j| format!(", p{j}: i32")).collect();
            let _ = writeln!(out, "\npub fn {}(x: i32{params}) -> i32 {{", Self::function_name(i, k));
            let binding = if Self::mutates(f) { "let mut" } else { "let" };
            let _ = writeln!(out, "    {binding} acc: i32 = x.wrapping_mul({}).wrapping_add({});", f.a, f.b);
            for j in 1..=f.params {
                let _ = writeln!(out, "    acc = acc.wrapping_add(p{j});");
            }
            for v in &f.extra {
                let _ = writeln!(out, "    acc = acc.wrapping_add({v});");
            }
            for &(cf, ck) in &f.calls {
                let callee = Self::function_name(cf, ck);
                let args = self.call_args(cf, ck, "acc.wrapping_rem(7)");
                if cf == i {
                    let _ = writeln!(out, "    acc = acc.wrapping_add({callee}({args}));");
                } else {
                    let _ = writeln!(out, "    acc = acc.wrapping_add(crate::m{cf}::{callee}({args}));");
                }
            }
            let _ = writeln!(out, "    acc\n}}");
        }
        if i == 0 {
            let args = self.call_args(0, 0, "1");
            let _ = writeln!(out, "\nfn main() {{\n    let result = {}({args});", Self::function_name(0, 0));
            let _ = writeln!(out, "    println!(\"{{result}}\");\n    std::process::exit(result);\n}}");
        }
        out
    }
}

const ZIG_BUILD: &str = r#"// Generated: a debug build of main.zig for the host.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const exe = b.addExecutable(.{
        .name = "main",
        .root_module = b.createModule(.{
            .root_source_file = b.path("main.zig"),
            .target = b.graph.host,
            .optimize = .Debug,
        }),
    });
    b.installArtifact(exe);
}
"#;

const CARGO_TOML: &str = r#"# Generated: one crate, one module per mini file; cargo's default dev profile.
[package]
name = "twin"
version = "0.1.0"
edition = "2021"
publish = false

# Its own workspace, whatever directory it is generated in.
[workspace]
"#;
