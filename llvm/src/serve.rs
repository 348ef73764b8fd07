//! The `mini-codegen` helper's loop: greet, then read requests from standard input and
//! answer each on a worker thread, writing the answers to standard output — `wire`'s
//! frames both ways. Requests are answered concurrently and in any order (each answer
//! carries its request's id); there are as many workers as requests waiting at once,
//! each with its own target machines. The loop ends when standard input closes: the
//! shell that started the helper exited, or let it go.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::sync::{Arc, Condvar, Mutex};

use mini_queries::codegen::wire::{self, ANSWER, FAILED, FRAME_HEADER};

/// More concurrent requests than this wait for a worker.
const MAX_WORKERS: usize = 64;

#[derive(Default)]
struct Queue {
    requests: VecDeque<(u64, Vec<u8>)>,
    /// Workers waiting for a request.
    idle: usize,
    /// Workers getting ready, soon idle: no other is started for a request meanwhile.
    warming: usize,
    workers: usize,
    /// Standard input is closed: workers finish what is queued, then leave.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Standard output, written one whole frame at a time.
    output: Mutex<ManuallyDrop<File>>,
}

/// Serves until standard input closes. Returns the process's exit status: 0, or 1 if
/// standard input or output failed (the shell is gone).
pub fn serve() -> i32 {
    // A Ctrl-C in the terminal reaches the whole process group; the shell decides what
    // it means (watch mode exits with a consistent cache), and this process goes when
    // its input closes.
    // SAFETY: setting a signal's disposition to "ignore" runs no code of ours.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // SAFETY: descriptors 0 and 1 are this process's standard input and output, open
    // for its whole life; `ManuallyDrop` keeps them open when these values go.
    let (input, output) = unsafe { (ManuallyDrop::new(File::from_raw_fd(0)), ManuallyDrop::new(File::from_raw_fd(1))) };
    let shared = Arc::new(Shared { queue: Mutex::default(), ready: Condvar::new(), output: Mutex::new(output) });
    if write_frame(&shared, 0, &wire::helper_greeting()).is_err() {
        return 1;
    }
    let mut input = BufReader::with_capacity(1 << 16, &*input);
    // The first worker starts now and makes the target machine most builds use while the
    // shell prepares its first request: it was started because code is wanted.
    let mut workers = Vec::new();
    {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.workers += 1;
        queue.warming += 1;
    }
    workers.push(spawn_worker(&shared, true));
    let status = loop {
        let mut header = [0u8; FRAME_HEADER];
        match read_full(&mut input, &mut header) {
            Ok(true) => {}
            Ok(false) => break 0,
            Err(_) => break 1,
        }
        let (len, id) = wire::frame_header(&header);
        let mut request = vec![0u8; len];
        if !matches!(read_full(&mut input, &mut request), Ok(true)) {
            break 1;
        }
        if id == 0 {
            // The shell's greeting: it checks ours, which went out first.
            continue;
        }
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.requests.push_back((id, request));
        if queue.requests.len() > queue.idle + queue.warming && queue.workers < MAX_WORKERS {
            queue.workers += 1;
            drop(queue);
            workers.push(spawn_worker(&shared, false));
        } else {
            shared.ready.notify_one();
        }
    };
    shared.queue.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
    shared.ready.notify_all();
    for worker in workers {
        let _ = worker.join();
    }
    status
}

/// Fills `buffer`; `Ok(false)` at the end of the input before its first byte.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn write_frame(shared: &Shared, id: u64, payload: &[u8]) -> std::io::Result<()> {
    let frame = wire::frame(id, payload);
    let mut output = shared.output.lock().unwrap_or_else(|e| e.into_inner());
    output.write_all(&frame)
}

fn spawn_worker(shared: &Arc<Shared>, warm_up: bool) -> std::thread::JoinHandle<()> {
    let shared = Arc::clone(shared);
    // AIR is walked recursively (bounded by the parser's nesting limit).
    let worker = std::thread::Builder::new().name("codegen".into()).stack_size(16 << 20);
    worker
        .spawn(move || {
            if warm_up {
                crate::warm_up();
                shared.queue.lock().unwrap_or_else(|e| e.into_inner()).warming -= 1;
            }
            work(&shared)
        })
        .expect("spawning a code generation thread")
}

/// A worker: answers requests until the queue is closed and empty.
fn work(shared: &Shared) {
    loop {
        let (id, request) = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(next) = queue.requests.pop_front() {
                    break next;
                }
                if queue.closed {
                    return;
                }
                queue.idle += 1;
                queue = shared.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
                queue.idle -= 1;
            }
        };
        // A panic is a bug in code generation: the shell is told, and this worker goes
        // on (nothing of LLVM outlives a request).
        let answer = std::panic::catch_unwind(|| crate::answer(&request)).unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            Err(format!("the code generator panicked: {reason}"))
        });
        let payload = match answer {
            Ok(outputs) => [&[ANSWER][..], &wire::encode_answer(&outputs)].concat(),
            Err(reason) => [&[FAILED][..], reason.as_bytes()].concat(),
        };
        if write_frame(shared, id, &payload).is_err() {
            // Nobody reads the answers any more: the shell is gone.
            return;
        }
    }
}
