//! What the code-generation queries ask the code generator, as bytes: the requests, the
//! answers, the frames that carry them between processes and the greeting that proves
//! both ends are one build of mini. The queries encode here; the code generator
//! (`mini-llvm`, in the `mini-codegen` helper process) decodes here. Nothing but bytes
//! crosses, so neither side depends on the other's memory layout.
//!
//! A function's input travels as `hash::input_bytes`: the very bytes its hash covers.
//! So "equal hashes mean equal objects" needs only that the code generator's answer is a
//! function of the bytes it is sent — which the decoding below makes checkable: every
//! byte is read, and a request that is not exactly an encoding is refused.

use crate::base::{COMPILER_ID, Decode, DecodeError, Decoder, Encoder, ModulePath, Name, Type, llvm_version};
use crate::codegen_input::{CodegenInput, ContractInput, DebugInfo};
use crate::sema::air::{
    AExpr, AExprId, AExprKind, AStmt, AStmtId, Air, ArithOp, Callee, Clause, CmpOp, Contracts, Local,
};
use crate::source::CodegenSettings;
use crate::syntax::ast::ContractKind;

/// Bumped whenever the requests, answers or frames below change shape.
pub const PROTOCOL_VERSION: u32 = 2;

/// What to make of a module: an object, or LLVM IR as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Object,
    Ir,
}

/// One request to the code generator. The answer is a list of byte strings: one object
/// per input for `Objects`, one output otherwise.
#[derive(Debug)]
pub enum Request<'a> {
    /// The canonical objects of these functions, given as their encoded inputs
    /// (`hash::input_bytes`), in order, compiled in one LLVM module and split; with `-g`
    /// (one function only), the module's whole object.
    Objects(&'a [&'a [u8]]),
    /// One function's LLVM IR, given as its encoded input.
    FunctionIr(&'a [u8]),
    /// The runtime (see `runtime_object`).
    Runtime { settings: &'a CodegenSettings, output: Output },
    /// `_start`.
    Start { settings: &'a CodegenSettings },
    /// The entry wrapper, calling `symbol`, which returns `ret`.
    Entry { settings: &'a CodegenSettings, symbol: String, ret: Type, output: Output },
}

impl Request<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::wire();
        match self {
            Request::Objects(inputs) => {
                e.u8(1).u64(inputs.len() as u64);
                for input in inputs.iter() {
                    e.bytes(input);
                }
            }
            Request::FunctionIr(input) => {
                e.u8(2).bytes(input);
            }
            Request::Runtime { settings, output } => {
                e.u8(3).encode(*settings).u8(output_code(*output));
            }
            Request::Start { settings } => {
                e.u8(4).encode(*settings);
            }
            Request::Entry { settings, symbol, ret, output } => {
                e.u8(5).encode(*settings).str(symbol).encode(ret).u8(output_code(*output));
            }
        }
        e.into_bytes()
    }
}

fn output_code(output: Output) -> u8 {
    match output {
        Output::Object => 1,
        Output::Ir => 2,
    }
}

fn decode_output(d: &mut Decoder<'_>) -> Result<Output, DecodeError> {
    match d.u8()? {
        1 => Ok(Output::Object),
        2 => Ok(Output::Ir),
        _ => Err(d.error("an output kind")),
    }
}

/// A request as the code generator reads it: everything owned.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Objects(Vec<Input>),
    FunctionIr(Box<Input>),
    Runtime { settings: CodegenSettings, output: Output },
    Start { settings: CodegenSettings },
    Entry { settings: CodegenSettings, symbol: String, ret: Type, output: Output },
}

/// Decodes a request; every byte must belong to it.
pub fn decode(request: &[u8]) -> Result<Decoded, DecodeError> {
    let mut d = Decoder::new(request);
    let decoded = match d.u8()? {
        1 => {
            let count = d.len()?;
            Decoded::Objects((0..count).map(|_| Input::decode_bytes(d.bytes()?)).collect::<Result<_, _>>()?)
        }
        2 => Decoded::FunctionIr(Box::new(Input::decode_bytes(d.bytes()?)?)),
        3 => Decoded::Runtime { settings: d.decode()?, output: decode_output(&mut d)? },
        4 => Decoded::Start { settings: d.decode()? },
        5 => Decoded::Entry {
            settings: d.decode()?,
            symbol: d.str()?.to_string(),
            ret: d.decode()?,
            output: decode_output(&mut d)?,
        },
        _ => return Err(d.error("a request kind")),
    };
    d.finish()?;
    Ok(decoded)
}

/// One function's code-generation input, owned (what `CodegenInput` borrows).
#[derive(Debug, PartialEq, Eq)]
pub struct Input {
    pub settings: CodegenSettings,
    pub air: Air,
    pub debug: Option<DebugInfo>,
    /// The contracts, and with `-g` their lines; present exactly when the encoding has
    /// them (contracts on, and the function has some).
    pub contracts: Option<(Contracts, Option<Vec<u32>>)>,
}

impl Input {
    /// Decodes `hash::input_bytes`. The encoding is `CodegenInput`'s: the settings, the
    /// AIR, the optional debug info, then — only if present, so only if bytes are left —
    /// the contracts, with their lines exactly when the settings ask for debug info.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Input, DecodeError> {
        let mut d = Decoder::new(bytes);
        let settings: CodegenSettings = d.decode()?;
        let air = d.decode()?;
        let debug = d.decode()?;
        let contracts = match d.is_empty() {
            true => None,
            false => {
                if d.str()? != "contracts" {
                    return Err(d.error("the contracts' tag"));
                }
                let contracts = d.decode()?;
                let lines = match settings.debug_info {
                    true => Some(d.decode()?),
                    false => None,
                };
                Some((contracts, lines))
            }
        };
        d.finish()?;
        Ok(Input { settings, air, debug, contracts })
    }

    /// The borrowed view code generation reads.
    pub fn view(&self) -> CodegenInput<'_> {
        CodegenInput {
            air: &self.air,
            settings: &self.settings,
            debug: self.debug.as_ref(),
            contracts: self
                .contracts
                .as_ref()
                .map(|(contracts, lines)| ContractInput { contracts, lines: lines.as_deref() }),
        }
    }
}

/// Encodes an answer: the outputs, in order.
pub fn encode_answer(outputs: &[Vec<u8>]) -> Vec<u8> {
    let mut e = Encoder::wire();
    e.u64(outputs.len() as u64);
    for output in outputs {
        e.bytes(output);
    }
    e.into_bytes()
}

pub fn decode_answer(bytes: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut d = Decoder::new(bytes);
    let count = d.len()?;
    let outputs = (0..count).map(|_| Ok(d.bytes()?.to_vec())).collect::<Result<Vec<_>, DecodeError>>()?;
    d.finish()?;
    Ok(outputs)
}

// ---- Frames: how requests and answers travel through a pipe. ----

/// Every frame starts with its payload's length (u32) and a request id (u64), little
/// endian. The code generator answers each request with a frame of the same id, whose
/// payload is a status byte — `ANSWER` then `encode_answer`'s bytes, or `FAILED` then
/// the reason as UTF-8 — in any order: requests run concurrently.
pub const FRAME_HEADER: usize = 12;
pub const ANSWER: u8 = 0;
pub const FAILED: u8 = 1;

/// A frame's bytes.
pub fn frame(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FRAME_HEADER + payload.len());
    bytes.extend_from_slice(&u32::try_from(payload.len()).expect("a frame under 4 GiB").to_le_bytes());
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A frame's payload length and id, from its header.
pub fn frame_header(header: &[u8; FRAME_HEADER]) -> (usize, u64) {
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let id = u64::from_le_bytes(header[4..].try_into().expect("8 bytes"));
    (len as usize, id)
}

/// The first frame each side sends (id 0) says who it is: the shell greets
/// (`shell_greeting`), the code generator answers with its own (`helper_greeting`), and
/// the shell refuses a code generator of another build (`check_greeting`): objects are
/// stored under keys that name this compiler, so one from another build would fill the
/// cache with objects the keys do not describe. The two greetings differ, so a program
/// that echoes what it reads is not taken for a code generator.
pub fn helper_greeting() -> Vec<u8> {
    greeting(HELPER)
}

pub fn shell_greeting() -> Vec<u8> {
    greeting(SHELL)
}

const HELPER: &str = "mini-codegen";
const SHELL: &str = "mini";

fn greeting(who: &str) -> Vec<u8> {
    let mut e = Encoder::wire();
    e.str(who).u32(PROTOCOL_VERSION).str(COMPILER_ID).str(llvm_version());
    e.into_bytes()
}

/// Checks the code generator's greeting against this build; the error says what it is.
pub fn check_greeting(bytes: &[u8]) -> Result<(), String> {
    let mut d = Decoder::new(bytes);
    let read = |d: &mut Decoder<'_>| -> Result<(String, u32, String, String), DecodeError> {
        Ok((d.str()?.to_string(), d.u32()?, d.str()?.to_string(), d.str()?.to_string()))
    };
    match read(&mut d) {
        Ok((who, version, compiler, llvm))
            if who == HELPER && version == PROTOCOL_VERSION && compiler == COMPILER_ID && llvm == llvm_version() =>
        {
            Ok(())
        }
        Ok((who, version, compiler, llvm)) if who == HELPER => Err(format!(
            "it is from another build of mini (compiler {compiler}, LLVM {llvm}, protocol {version}; this mini is \
             {COMPILER_ID}, LLVM {}, protocol {PROTOCOL_VERSION}); build them together (`cargo build`)",
            llvm_version()
        )),
        _ => Err("it does not greet as mini's code generator".to_string()),
    }
}

// ---- Decoding what `hash.rs` encodes. Each mirrors its `Encode` impl there. ----

impl Decode for CodegenSettings {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let opt_level = d.u8()?;
        let target = d.str()?.into();
        let debug_info = match d.u8()? {
            0 => false,
            1 => true,
            _ => return Err(d.error("a flag")),
        };
        Ok(CodegenSettings { opt_level, target, debug_info })
    }
}

fn name(d: &mut Decoder<'_>) -> Result<Name, DecodeError> {
    Ok(Name::from(d.str()?))
}

fn ids(d: &mut Decoder<'_>) -> Result<Vec<AStmtId>, DecodeError> {
    Ok(Vec::<u32>::decode(d)?.into_iter().map(AStmtId).collect())
}

impl Decode for DebugInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let file = d.str()?.to_string();
        let base_line = d.u32()?;
        let count = d.len()?;
        let lines = (0..count).map(|_| d.u32()).collect::<Result<Vec<u32>, _>>()?;
        Ok(DebugInfo { file, base_line, lines: lines.into() })
    }
}

impl Decode for Callee {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Callee { module: d.decode()?, name: name(d)?, params: d.decode()?, ret: d.decode()? })
    }
}

impl Decode for Air {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let module: ModulePath = d.decode()?;
        let name = name(d)?;
        let params = d.decode()?;
        let ret = d.decode()?;
        let locals = d.decode()?;
        let callees = d.decode()?;
        let exprs = d.decode()?;
        let stmts = d.decode()?;
        let body = ids(d)?;
        Ok(Air { module, name, params, ret, locals, callees, exprs, stmts, body })
    }
}

impl Decode for AExpr {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let ty = d.decode()?;
        let id = |d: &mut Decoder<'_>| d.u32().map(AExprId);
        let kind = match d.u8()? {
            1 => AExprKind::Int(d.u64()? as i64),
            2 => AExprKind::Bool(match d.u8()? {
                0 => false,
                1 => true,
                _ => return Err(d.error("a boolean")),
            }),
            3 => AExprKind::Local(Local(d.u32()?)),
            4 => {
                let callee = d.u32()?;
                let count = d.len()?;
                let args = (0..count).map(|_| id(d)).collect::<Result<_, _>>()?;
                AExprKind::Call { callee, args }
            }
            5 => AExprKind::Neg(id(d)?),
            6 => AExprKind::Not(id(d)?),
            7 => {
                let op = match d.u8()? {
                    1 => ArithOp::Add,
                    2 => ArithOp::Sub,
                    3 => ArithOp::Mul,
                    4 => ArithOp::Div,
                    5 => ArithOp::Rem,
                    _ => return Err(d.error("an arithmetic operator")),
                };
                AExprKind::Arith { op, lhs: id(d)?, rhs: id(d)? }
            }
            8 => {
                let op = match d.u8()? {
                    1 => CmpOp::Eq,
                    2 => CmpOp::Ne,
                    3 => CmpOp::Lt,
                    4 => CmpOp::Le,
                    5 => CmpOp::Gt,
                    6 => CmpOp::Ge,
                    _ => return Err(d.error("a comparison")),
                };
                AExprKind::Compare { op, lhs: id(d)?, rhs: id(d)? }
            }
            9 => AExprKind::And(id(d)?, id(d)?),
            10 => AExprKind::Or(id(d)?, id(d)?),
            11 => AExprKind::Print(id(d)?),
            12 => AExprKind::Cast(id(d)?),
            13 => AExprKind::Result,
            _ => return Err(d.error("an expression")),
        };
        Ok(AExpr { kind, ty })
    }
}

impl Decode for AStmt {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(match d.u8()? {
            1 => AStmt::Store { local: Local(d.u32()?), value: AExprId(d.u32()?) },
            2 => {
                let count = d.len()?;
                let branches = (0..count).map(|_| Ok((AExprId(d.u32()?), ids(d)?))).collect::<Result<_, _>>()?;
                let else_block = match d.u8()? {
                    0 => None,
                    1 => Some(ids(d)?),
                    _ => return Err(d.error("an option tag")),
                };
                AStmt::If { branches, else_block }
            }
            3 => AStmt::While { cond: AExprId(d.u32()?), body: ids(d)? },
            4 => AStmt::Break,
            5 => AStmt::Continue,
            6 => AStmt::Return(Option::<u32>::decode(d)?.map(AExprId)),
            7 => AStmt::Block(ids(d)?),
            8 => AStmt::Expr(AExprId(d.u32()?)),
            _ => return Err(d.error("a statement")),
        })
    }
}

impl Decode for ContractKind {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match d.u8()? {
            1 => Ok(ContractKind::Requires),
            2 => Ok(ContractKind::Ensures),
            _ => Err(d.error("a contract kind")),
        }
    }
}

impl Decode for Contracts {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let callees = d.decode()?;
        let exprs = d.decode()?;
        let count = d.len()?;
        let clauses =
            (0..count).map(|_| Ok(Clause { kind: d.decode()?, expr: AExprId(d.u32()?) })).collect::<Result<_, _>>()?;
        Ok(Contracts { callees, exprs, clauses })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_code_generator_of_this_build_is_accepted() {
        assert_eq!(check_greeting(&helper_greeting()), Ok(()));
        let echoed = check_greeting(&shell_greeting()).unwrap_err();
        assert!(echoed.contains("does not greet"), "{echoed}");
        let mut e = Encoder::wire();
        e.str(HELPER).u32(PROTOCOL_VERSION).str("0.0.1+0123456789abcdef").str(llvm_version());
        let other = check_greeting(&e.into_bytes()).unwrap_err();
        assert!(other.contains("another build of mini (compiler 0.0.1+0123456789abcdef"), "{other}");
        assert!(check_greeting(b"").is_err());
    }
}
