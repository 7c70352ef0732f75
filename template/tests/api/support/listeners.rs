//! Stand-ins for the servers logs and errors go to: a syslog UDP port, TCP log inputs
//! (GELF, syslog) that can be stopped and started again, and a Sentry endpoint.
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::eventually;

/// How long a test waits for a record to arrive.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Records received so far, shared with the listener's threads.
#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Vec<String>>>);

impl Inbox {
    fn push(&self, record: String) {
        self.0.lock().expect("inbox").push(record);
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("inbox").clone()
    }

    /// Waits for a record containing `text`, and returns it.
    pub async fn wait_for(&self, text: &str) -> String {
        let found = eventually(
            PATIENCE,
            async || self.all().into_iter().find(|record| record.contains(text)),
            Option::is_some,
        )
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no record with {text:?} within {PATIENCE:?}; got {:?}",
                self.all()
            )
        })
    }
}

/// A syslog server on a UDP port: one datagram, one record.
pub struct UdpInput {
    pub address: SocketAddr,
    pub inbox: Inbox,
}

impl UdpInput {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let address = socket.local_addr().expect("address");
        let inbox = Inbox::default();
        let received = inbox.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 70_000];
            while let Ok(size) = socket.recv(&mut buffer) {
                received.push(String::from_utf8_lossy(&buffer[..size]).into_owned());
            }
        });
        Self { address, inbox }
    }
}

/// How a TCP input splits its stream into records.
#[derive(Clone, Copy)]
pub enum Framing {
    /// GELF: each record ends with a NUL byte.
    Nul,
    /// Syslog (RFC 6587): `LENGTH SP RECORD`.
    OctetCounting,
}

/// A TCP log input that can go down (it closes every connection and hangs up on new
/// ones, keeping its port so that no other test takes it) and come back.
pub struct TcpInput {
    pub address: SocketAddr,
    pub inbox: Inbox,
    down: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl TcpInput {
    pub fn start(framing: Framing) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let address = listener.local_addr().expect("address");
        listener.set_nonblocking(true).expect("nonblocking");
        let inbox = Inbox::default();
        let down = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicBool::new(false));
        let (is_down, is_closed, received) = (down.clone(), closed.clone(), inbox.clone());
        std::thread::spawn(move || {
            while !is_closed.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) if is_down.load(Ordering::Relaxed) => drop(stream),
                    Ok((stream, _)) => {
                        let (is_down, received) = (is_down.clone(), received.clone());
                        std::thread::spawn(move || {
                            read_records(stream, framing, &is_down, &received)
                        });
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => return,
                }
            }
        });
        Self {
            address,
            inbox,
            down,
            closed,
        }
    }

    /// Goes down as a server does: every connection closed, new ones hung up on.
    pub fn stop(&self) {
        self.down.store(true, Ordering::Relaxed);
        // Let the threads notice (they poll every 10-50 ms).
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Comes back on the same port, keeping the inbox.
    pub fn restart(&self) {
        self.down.store(false, Ordering::Relaxed);
    }
}

impl Drop for TcpInput {
    fn drop(&mut self) {
        self.down.store(true, Ordering::Relaxed);
        self.closed.store(true, Ordering::Relaxed);
    }
}

fn read_records(stream: TcpStream, framing: Framing, stop: &AtomicBool, inbox: &Inbox) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut reader = BufReader::new(&stream);
    let mut pending = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let delimiter = match framing {
            Framing::Nul => 0,
            Framing::OctetCounting => b' ',
        };
        match reader.read_until(delimiter, &mut pending) {
            Ok(0) => return,
            Ok(_) if pending.last() == Some(&delimiter) => {
                pending.pop();
                let record = match framing {
                    Framing::Nul => std::mem::take(&mut pending),
                    Framing::OctetCounting => {
                        let length: usize = String::from_utf8_lossy(&pending)
                            .trim()
                            .parse()
                            .expect("an octet count before each syslog record");
                        pending.clear();
                        let mut record = vec![0; length];
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        reader.read_exact(&mut record).expect("a whole record");
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
                        record
                    }
                };
                inbox.push(String::from_utf8_lossy(&record).into_owned());
            }
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// A TCP server that accepts connections and never reads: a stalled log backend.
pub struct StalledInput {
    pub address: SocketAddr,
    _connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl StalledInput {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let address = listener.local_addr().expect("address");
        let connections = Arc::new(Mutex::new(Vec::new()));
        let kept = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                kept.lock().expect("connections").push(stream);
            }
        });
        Self {
            address,
            _connections: connections,
        }
    }
}

/// A Sentry ingestion endpoint: stores each envelope's events as JSON.
pub struct FakeSentry {
    pub dsn: String,
    events: Arc<Mutex<Vec<Value>>>,
    bodies: Inbox,
}

impl FakeSentry {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let address = listener.local_addr().expect("address");
        let events = Arc::new(Mutex::new(Vec::new()));
        let bodies = Inbox::default();
        let (kept, received) = (events.clone(), bodies.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let Some(body) = read_http_body(&mut stream) else {
                    continue;
                };
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                );
                let text = String::from_utf8_lossy(&body).into_owned();
                // An envelope: JSON lines; the event is the one naming its platform.
                for line in text.lines() {
                    if let Ok(value) = serde_json::from_str::<Value>(line)
                        && value.get("platform").is_some()
                        && value.get("event_id").is_some()
                    {
                        kept.lock().expect("events").push(value);
                    }
                }
                received.push(text);
            }
        });
        Self {
            dsn: format!("http://public@{address}/1"),
            events,
            bodies,
        }
    }

    /// Waits for an event matching `wanted`.
    pub async fn event(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let found = eventually(
            PATIENCE,
            async || {
                let events = self.events.lock().expect("events").clone();
                events.into_iter().find(&wanted)
            },
            Option::is_some,
        )
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no matching Sentry event within {PATIENCE:?}; got {:?}",
                self.events.lock().expect("events")
            )
        })
    }

    /// Every envelope received, as text.
    pub fn everything_sent(&self) -> String {
        self.bodies.all().join("\n")
    }
}

/// Reads one HTTP/1.1 request and returns its body (`content-length` or chunked).
fn read_http_body(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length?, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(body)
}

/// A GELF input over TLS with a certificate made for the test (`openssl` on the PATH);
/// `ca_file` is the PEM a client must trust.
pub struct TlsInput {
    pub address: SocketAddr,
    pub inbox: Inbox,
    pub ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsInput {
    pub fn start() -> Option<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let dir = tempfile::tempdir().expect("temp dir");
        let file = |name: &str| dir.path().join(name).display().to_string();
        let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
        std::fs::write(
            file("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions file");
        let curve = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let steps: [Vec<String>; 3] = [
            // A CA, then a server certificate it signs (webpki refuses a CA as a server).
            [&curve[..], &["-x509", "-days", "2", "-subj", "/CN=test-ca"]]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .chain(["-keyout".into(), file("ca.key"), "-out".into(), ca.clone()])
                .collect(),
            [&curve[..], &["-subj", "/CN=127.0.0.1"]]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .chain([
                    "-keyout".into(),
                    key.clone(),
                    "-out".into(),
                    file("leaf.csr"),
                ])
                .collect(),
            ["x509", "-req", "-days", "2", "-in"]
                .iter()
                .map(|s| s.to_string())
                .chain([file("leaf.csr"), "-CA".into(), ca.clone(), "-CAkey".into()])
                .chain([
                    file("ca.key"),
                    "-CAcreateserial".into(),
                    "-out".into(),
                    cert.clone(),
                ])
                .chain(["-extfile".into(), file("leaf.ext")])
                .collect(),
        ];
        let made = steps.iter().enumerate().all(|(step, args)| {
            let mut command = std::process::Command::new("openssl");
            if step < 2 {
                command.arg("req");
            }
            command
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        });
        if !made {
            crate::support::skip("no `openssl` to make test certificates: the TLS test is SKIPPED");
            return None;
        }
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .expect("cert")
            .collect::<Result<_, _>>()
            .expect("cert");
        let key = PrivateKeyDer::from_pem_file(&key).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let address = listener.local_addr().expect("address");
        let inbox = Inbox::default();
        let received = inbox.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, received) = (config.clone(), received.clone());
                std::thread::spawn(move || {
                    let Ok(session) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut reader = BufReader::new(rustls::StreamOwned::new(session, stream));
                    let mut record = Vec::new();
                    while matches!(reader.read_until(0, &mut record), Ok(n) if n > 0) {
                        if record.last() == Some(&0) {
                            record.pop();
                        }
                        received.push(String::from_utf8_lossy(&record).into_owned());
                        record.clear();
                    }
                });
            }
        });
        Some(Self {
            address,
            inbox,
            ca_file: ca.into(),
            _dir: dir,
        })
    }
}
