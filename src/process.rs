//! Process-wide settings, shared by the `mini` binary and everything else that links the
//! shell (tests and benchmarks measure the allocator and pages that ship).

/// mimalloc, overriding `malloc` for the whole process: LLVM allocates heavily, and a
/// cold build spends about 15% less time with it than with glibc's allocator; freed
/// memory also goes back to the system (a watch session that drops a database shrinks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Asks the kernel for small pages only. mimalloc is built not to ask for transparent huge
/// pages (its `no_thp` feature): with THP, every first touch of a 2 MiB page zeroes all
/// of it, and an incremental build — which touches a little memory in many places —
/// spent over half its time in the kernel's `clear_page`. This also covers kernels whose
/// THP mode is `always`, and the allocations made before `main`. Failure (an old kernel)
/// changes nothing.
pub fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns freed memory to the system now. mimalloc does so lazily, when the allocator
/// is busy again some milliseconds later; a watch session that has just dropped a
/// database of hundreds of megabytes and then waits for the next edit would keep it.
pub fn release_free_memory() {
    // SAFETY: mi_collect takes a flag and only walks the allocator's own structures.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Starts a program that was written a moment ago. While another thread of this process
/// forks (to run a linker, say), the child holds a copy of every open file until it
/// execs — the new executable too, if it was still being written — and exec of a file
/// open for writing fails with ETXTBSY ("text file busy"). That lasts microseconds, so
/// a few short retries make it go away; any other error is returned at once.
pub fn spawn(command: &mut std::process::Command) -> std::io::Result<std::process::Child> {
    let mut delay = std::time::Duration::from_micros(200);
    for _ in 0..10 {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => std::thread::sleep(delay),
            result => return result,
        }
        delay *= 2;
    }
    command.spawn()
}

/// `spawn`, then wait for the program and collect its output (as `Command::output`).
pub fn output(command: &mut std::process::Command) -> std::io::Result<std::process::Output> {
    use std::process::Stdio;
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    spawn(command)?.wait_with_output()
}
