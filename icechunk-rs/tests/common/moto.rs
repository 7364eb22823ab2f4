//! A real S3-compatible server on 127.0.0.1 for the tests: moto's server (PyPI `moto[server]`),
//! run as a child process.
//!
//! `MotoServer::start()` starts one that is killed when dropped; [`shared`] starts one per test
//! binary, which exits when the test binary does (it waits for the end of its stdin, a pipe
//! from this process that the OS closes on exit, even after a crash). The Python interpreter is
//! `$ICECHUNK_TEST_PYTHON`, else `python3`. Without moto the tests fail, saying how to install
//! it: they never pass silently.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use icechunk::storage::S3Options;

/// Starts moto's threaded server on a free port, prints it, and exits at the end of stdin.
const LAUNCHER: &str = r#"
import os, sys
try:
    from moto.server import ThreadedMotoServer
except Exception as e:
    print("IMPORT-ERROR " + repr(e), flush=True)
    sys.exit(3)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("PORT %d" % server.get_host_and_port()[1], flush=True)
sys.stdin.read()
os._exit(0)
"#;

pub const ACCESS_KEY_ID: &str = "AKIAMOTOTESTKEY00001";
/// Distinctive, so that a test can search every message for it.
pub const SECRET_ACCESS_KEY: &str = "moto-Secret-Key+DoNotShow/1234567890abcdEFG";

pub struct MotoServer {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

impl MotoServer {
    /// Starts a server; panics with a clear message if moto is missing or does not answer.
    pub fn start() -> MotoServer {
        let python = std::env::var("ICECHUNK_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
        let mut child = Command::new(&python)
            .args(["-c", LAUNCHER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{python}` to start moto's S3 server: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("moto's S3 server did not start within 60 s");
            }
        };
        let line = line.trim();
        if line.starts_with("IMPORT-ERROR") || line.is_empty() {
            let _ = child.kill();
            panic!(
                "the S3 tests need moto's server, which `{python}` cannot import ({line}). \
                 Install it with `{python} -m pip install 'moto[server]>=5.2'` (or point \
                 ICECHUNK_TEST_PYTHON at an interpreter that has it)."
            );
        }
        let port: u16 = line
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected output from the moto launcher: {line:?}"));
        let server = MotoServer { child, port, endpoint: format!("http://127.0.0.1:{port}") };
        server.wait_until_answering();
        server
    }

    fn wait_until_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((status, _)) = self.request("GET", "/") {
                if status < 500 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "moto's S3 server at {} does not answer", self.endpoint);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A plain, unsigned HTTP request (moto does not check signatures): status and body.
    pub fn request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        self.request_with(method, path, "")
    }

    /// [`Self::request`] with extra header lines (each ending in `\r\n`).
    pub fn request_with(&self, method: &str, path: &str, headers: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Ok((status, body))
    }

    /// Creates a bucket with a name unique to this process and `tag`.
    pub fn new_bucket(&self, tag: &str) -> String {
        self.create_bucket(tag, "")
    }

    /// A bucket whose objects anyone may read with plain GETs (ACL `public-read`).
    pub fn new_public_bucket(&self, tag: &str) -> String {
        self.create_bucket(tag, "x-amz-acl: public-read\r\n")
    }

    fn create_bucket(&self, tag: &str, headers: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        let name = format!("t{}-{}-{tag}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let name: String = name.chars().take(63).collect::<String>().trim_end_matches('-').to_string();
        let (status, body) = self.request_with("PUT", &format!("/{name}"), headers).expect("create bucket");
        assert_eq!(status, 200, "creating bucket {name} on moto: {body}");
        name
    }

    /// Options for `bucket`/`prefix` on this server, with dummy keys.
    pub fn options(&self, bucket: &str, prefix: &str) -> S3Options {
        S3Options {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region: Some("us-east-1".to_string()),
            endpoint_url: Some(self.endpoint.clone()),
            allow_http: true,
            access_key_id: Some(ACCESS_KEY_ID.into()),
            secret_access_key: Some(SECRET_ACCESS_KEY.into()),
            force_path_style: true,
            ..Default::default()
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server for the whole test binary.
pub fn shared() -> &'static MotoServer {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    SERVER.get_or_init(MotoServer::start)
}
