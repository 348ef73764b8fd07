//! Editors' ways of saving a file, performed for real step by step, with the events the
//! kernel reports for each step fed to watch mode's `Burst` at chosen times: however
//! long an editor pauses between its steps, the watcher builds once, with the saved
//! file, never with a file half written or missing, and a rename through a temporary
//! file (`sed -i`) is a change of that file, not of everything.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use mini::driver::{BuildRequest, Emit, Session};
use mini::watch::burst::{Added, Burst, Poll, QUIET, SETTLE};
use mini::watch::{Outcome, Watcher};
use mini_queries::source::Settings;
use notify::Watcher as _;

use crate::support::write;

/// One step of a save.
type Step = Box<dyn Fn(&Path)>;

/// The ways of saving `lib.mini` with `text`, each a list of steps.
fn saves(text: &'static str) -> Vec<(&'static str, Vec<Step>)> {
    let lib = |d: &Path| d.join("lib.mini");
    vec![
        (
            // In place, as vim does by default: truncated, written, synced, its mode
            // set, closed, its ACL set (here: its mode again).
            "in place",
            vec![
                Box::new(move |d| open(std::fs::File::create(lib(d)).unwrap())),
                Box::new(move |_| {
                    with_open(|file| {
                        file.write_all(text.as_bytes()).unwrap();
                        file.sync_all().unwrap();
                    })
                }),
                Box::new(move |_| with_open(|file| file.set_permissions(mode(0o644)).unwrap())),
                Box::new(move |_| close()),
                Box::new(move |d| std::fs::set_permissions(lib(d), mode(0o644)).unwrap()),
            ],
        ),
        (
            // A temporary file renamed over the original (most editors).
            "temporary file and rename",
            vec![
                Box::new(move |d| std::fs::write(d.join(".lib.mini.swp"), text).unwrap()),
                Box::new(move |d| std::fs::rename(d.join(".lib.mini.swp"), lib(d)).unwrap()),
            ],
        ),
        (
            // vim with `backupcopy=no`: the original renamed to a backup, a new file
            // written, its mode set, the backup removed.
            "vim's backup rename",
            vec![
                Box::new(move |d| {
                    std::fs::write(d.join("4913"), "").unwrap();
                    std::fs::remove_file(d.join("4913")).unwrap();
                }),
                Box::new(move |d| std::fs::rename(lib(d), d.join("lib.mini~")).unwrap()),
                Box::new(move |d| {
                    open(std::fs::File::create(lib(d)).unwrap());
                    with_open(|file| {
                        file.write_all(text.as_bytes()).unwrap();
                        file.sync_all().unwrap();
                    });
                }),
                Box::new(move |_| close()),
                Box::new(move |d| std::fs::set_permissions(lib(d), mode(0o644)).unwrap()),
                Box::new(move |d| std::fs::remove_file(d.join("lib.mini~")).unwrap()),
            ],
        ),
        (
            // JetBrains' safe write: a temporary file, the original renamed away, the
            // temporary file renamed in, the original removed.
            "safe write",
            vec![
                Box::new(move |d| std::fs::write(d.join("lib.mini___jb_tmp___"), text).unwrap()),
                Box::new(move |d| std::fs::rename(lib(d), d.join("lib.mini___jb_old___")).unwrap()),
                Box::new(move |d| std::fs::rename(d.join("lib.mini___jb_tmp___"), lib(d)).unwrap()),
                Box::new(move |d| std::fs::remove_file(d.join("lib.mini___jb_old___")).unwrap()),
            ],
        ),
        (
            // The real `sed -i`: its temporary file (`sedXXXXXX`) renamed over the file.
            "sed -i",
            vec![Box::new(move |d| {
                let script = format!("1,$c\\\n{}", text.trim_end().replace('\n', "\\\n"));
                let status = std::process::Command::new("sed").arg("-i").arg(script).arg(lib(d)).status().unwrap();
                assert!(status.success());
            })],
        ),
    ]
}

thread_local! {
    /// The file a save has open between its steps.
    static OPEN: std::cell::RefCell<Option<std::fs::File>> = const { std::cell::RefCell::new(None) };
}

fn open(file: std::fs::File) {
    OPEN.with(|open| *open.borrow_mut() = Some(file));
}

fn with_open(f: impl FnOnce(&mut std::fs::File)) {
    OPEN.with(|open| f(open.borrow_mut().as_mut().expect("a file is open")));
}

fn close() {
    OPEN.with(|open| drop(open.borrow_mut().take().expect("a file is open")));
}

fn mode(mode: u32) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::Permissions::from_mode(mode)
}

/// The file events of `dir`, each step's delimited by a sentinel file.
struct Recorder {
    _watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    steps: usize,
}

impl Recorder {
    fn new(dir: &Path) -> Recorder {
        let (tx, events) = std::sync::mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .unwrap();
        watcher.watch(dir, notify::RecursiveMode::Recursive).unwrap();
        Recorder { _watcher: watcher, events, steps: 0 }
    }

    /// Every event since the last call, up to a sentinel file made now: the kernel
    /// reports a directory's events in order, so the sentinel's comes after them.
    fn events(&mut self, dir: &Path) -> Vec<notify::Event> {
        self.steps += 1;
        let sentinel = format!("sentinel-{}", self.steps);
        std::fs::write(dir.join(&sentinel), "").unwrap();
        let is_sentinel =
            |path: &PathBuf| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sentinel"));
        let mut events = Vec::new();
        loop {
            let event = match self.events.recv_timeout(Duration::from_secs(60)) {
                Ok(event) => event.expect("no event is lost"),
                Err(RecvTimeoutError::Timeout) => panic!("no event for {sentinel} in a minute"),
                Err(RecvTimeoutError::Disconnected) => panic!("the watcher stopped"),
            };
            if event.paths.iter().any(|p| p.ends_with(&sentinel)) {
                return events;
            }
            if !event.paths.iter().any(is_sentinel) {
                events.push(event);
            }
        }
    }
}

/// Saves `lib.mini` each way, with the editor pausing `pause` after each step (events of
/// a step arrive 50 µs apart); whenever the burst says so, the watcher builds with what
/// is on disk at that moment. Returns, per way, the builds' outcomes and the changes they
/// were given.
fn save_each_way(pause: Duration) -> Vec<(String, Vec<String>)> {
    let mut results = Vec::new();
    for (round, (way, steps)) in saves("pub fn f(x: i32) i32 {\n    return x + 41;\n}\n").into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        write(&d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
        write(&d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
        let request = BuildRequest {
            emit: Emit::Exe,
            output: Some(d.join("main")),
            settings: Settings::host(),
            jobs: 1,
            log_queries: false,
            deny_warnings: false,
        };
        let mut w = Watcher::new(Session::new(&d.join("main.mini")).unwrap(), request);
        let cache = d.join(".mini_cache");
        assert!(w.rebuild(None).unwrap().success());
        w.flush().unwrap();

        let mut recorder = Recorder::new(&d);
        let mut burst = Burst::default();
        let mut log = Vec::new();
        let start = Instant::now() + Duration::from_secs(round as u64);
        let mut now = start;
        let mut build = |burst: &mut Burst, now: Instant, log: &mut Vec<String>| {
            if let Poll::Ready(changed, _) = burst.poll(now) {
                let given = match &changed {
                    Some(files) => {
                        format!("{:?}", files.iter().map(|f| f.strip_prefix(&d).unwrap()).collect::<Vec<_>>())
                    }
                    None => "everything".to_string(),
                };
                w.round(changed.as_deref(), |_, outcome| {
                    log.push(match outcome {
                        Outcome::Built(report) if report.success() => {
                            format!("{given}: compiled {:?}, linked {}", report.compiled, report.linked)
                        }
                        Outcome::Built(report) => format!("{given}: errors {:?}", report.diagnostics),
                        other => format!("{given}: {other:?}"),
                    })
                })
                .unwrap();
            }
        };
        for step in &steps {
            step(&d);
            for event in recorder.events(&d) {
                now += Duration::from_micros(50);
                // The watcher asks the burst again only after events that mean something
                // to it, and at the time it said to wait for.
                if burst.add(&Ok(event), now, &cache) != Added::Nothing {
                    build(&mut burst, now, &mut log);
                }
            }
            now += pause;
            build(&mut burst, now, &mut log);
        }
        now += SETTLE;
        build(&mut burst, now, &mut log);
        let out = std::process::Command::new(d.join("main")).output().unwrap();
        log.push(format!("prints {}", String::from_utf8_lossy(&out.stdout).trim()));
        results.push((way.to_string(), log));
    }
    results
}

/// Every way of saving, its steps back to back: one build, given the saved file alone,
/// which compiles the edited function.
#[test]
fn each_way_of_saving_builds_once_with_the_saved_file() {
    for (way, log) in save_each_way(Duration::from_micros(50)) {
        assert_eq!(log, [r#"["lib.mini"]: compiled ["lib.f"], linked true"#, "prints 42"], "{way}");
    }
}

/// However long an editor pauses between its steps — longer than the quiet period, not
/// as long as the wait for files to settle — no build reads the file half written or
/// missing: the one build that links has the saved file. (A trailing `chmod` can come
/// after it: the build it makes compiles and links nothing.)
#[test]
fn an_editor_pausing_between_its_steps_never_gets_a_build_of_half_a_save() {
    let pause = QUIET * 5;
    assert!(pause < SETTLE);
    for (way, log) in save_each_way(pause) {
        let (prints, builds) = log.split_last().unwrap();
        assert_eq!(prints, "prints 42", "{way}: {log:?}");
        assert_eq!(builds[0], r#"["lib.mini"]: compiled ["lib.f"], linked true"#, "{way}: {log:?}");
        for later in &builds[1..] {
            assert_eq!(later, r#"["lib.mini"]: compiled [], linked false"#, "{way}: {log:?}");
        }
    }
}
