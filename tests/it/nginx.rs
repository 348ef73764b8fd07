//! A real nginx for the remote-cache tests: Debian's `nginx` (its core binary has the
//! WebDAV module), run unprivileged-style in a temporary prefix on a free loopback port
//! (`daemon off; master_process off;`, every path inside the prefix), and killed when
//! dropped. Its files are the cache's entries, so tests damage them directly.
//!
//! Without nginx these tests fail, saying how to install it; set
//! `MINI_TEST_WITHOUT_NGINX=1` to skip them instead (with a loud message).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Who may do what.
#[derive(Clone, Copy, Debug)]
pub enum Auth {
    /// Anyone may read and write.
    Open,
    /// Reading and writing need this user and password.
    Everything(&'static str, &'static str),
    /// Anyone may read; writing needs this user and password (the README's set-up).
    Writes(&'static str, &'static str),
}

pub struct Nginx {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
}

fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}

impl Nginx {
    /// Starts nginx on a free port; `None` (after a loud message) only where it is not
    /// installed and `MINI_TEST_WITHOUT_NGINX=1` says to skip.
    #[track_caller]
    pub fn start(auth: Auth) -> Option<Nginx> {
        Self::start_on(auth, None)
    }

    /// Starts nginx on `port` (or a free one).
    #[track_caller]
    pub fn start_on(auth: Auth, port: Option<u16>) -> Option<Nginx> {
        let Some(binary) = binary() else {
            if std::env::var_os("MINI_TEST_WITHOUT_NGINX").is_some_and(|v| v == "1") {
                eprintln!(
                    "\n!!! SKIPPED {}: nginx is not installed (MINI_TEST_WITHOUT_NGINX=1). \
                     `apt-get install nginx` runs the remote-cache tests. !!!\n",
                    std::thread::current().name().unwrap_or("a remote-cache test")
                );
                return None;
            }
            panic!(
                "the remote-cache tests need Debian's nginx: `apt-get install -y nginx` (.ci/run does), \
                 or set MINI_TEST_WITHOUT_NGINX=1 to skip them"
            );
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        for sub in ["root/cache", "temp", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("nginx's directories");
        }
        let (user, password) = match auth {
            Auth::Open => ("", ""),
            Auth::Everything(user, password) | Auth::Writes(user, password) => (user, password),
        };
        std::fs::write(dir.path().join("htpasswd"), format!("{user}:{{PLAIN}}{password}\n")).expect("htpasswd");
        let mut server = Nginx { child: None, port: port.unwrap_or(0), dir, binary };
        for _attempt in 0..5 {
            if port.is_none() {
                server.port = free_port();
            }
            server.write_config(auth);
            if server.launch() {
                return Some(server);
            }
            assert!(port.is_none(), "nginx could not listen on port {}:\n{}", server.port, server.log());
        }
        panic!("nginx did not start:\n{}", server.log());
    }

    fn write_config(&self, auth: Auth) {
        let d = self.dir.path().display();
        let access = match auth {
            Auth::Open => String::new(),
            Auth::Everything(..) => format!("auth_basic \"mini cache\"; auth_basic_user_file {d}/htpasswd;"),
            Auth::Writes(..) => format!(
                "limit_except GET HEAD {{ auth_basic \"mini cache upload\"; auth_basic_user_file {d}/htpasswd; }}"
            ),
        };
        let config = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /cache/ {{
            root {d}/root;
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 1g;
            dav_access user:rw group:r all:r;
            log_not_found off;
            {access}
        }}
    }}
}}
",
            port = self.port
        );
        std::fs::write(self.dir.path().join("nginx.conf"), config).expect("nginx.conf");
    }

    /// Runs nginx and waits until it accepts connections; false if it exited (the port
    /// was taken).
    fn launch(&mut self) -> bool {
        let d = self.dir.path();
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return true;
            }
            if child.try_wait().expect("nginx's status").is_some() {
                return false;
            }
            assert!(Instant::now() < deadline, "nginx did not listen within 10 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }

    /// CPU time nginx has used so far (user + system), from `/proc`: for the bench.
    #[allow(dead_code)]
    pub fn cpu_time(&self) -> Duration {
        let Some(pid) = self.child.as_ref().map(Child::id) else { return Duration::ZERO };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_nanos(ticks * 1_000_000_000 / per_second)
    }

    /// The cache's base URL, without credentials.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cache/", self.port)
    }

    /// The cache's base URL with basic-auth credentials.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}/cache/", self.port)
    }

    /// Where nginx keeps the entries (`ac/<hex>`).
    pub fn entries_dir(&self) -> PathBuf {
        self.dir.path().join("root/cache/ac")
    }

    /// Every entry the server holds, sorted.
    pub fn entries(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.entries_dir())
            .map(|dir| dir.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Kills nginx at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts nginx again on the same port, with the same files.
    pub fn restart(&mut self) {
        self.kill();
        assert!(self.launch(), "nginx did not restart on port {}:\n{}", self.port, self.log());
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `path` holds a valid entry for the key its name says: what the server would
/// serve and mini would accept.
pub fn valid_entry(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    let Ok(bytes) = std::fs::read(path) else { return false };
    mini::cache::store::verify(&bytes, None).is_some()
        && mini::cache::store::trailer_key(&bytes).is_some_and(|k| k.to_hex() == name)
}
