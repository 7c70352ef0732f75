//! Sends log records to a network (or local socket) server and reconnects when it comes
//! back: one record per `write`, never an error to the logging code.
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// How long a connection attempt may take; in blocking mode a logging thread waits at most
/// this long, once per back-off period, for a server that is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A write stalled this long drops the connection (and the record).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Waits between reconnection attempts grow from the first to the second.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));
/// A connection open this long counts as working: its failure is retried at once, and
/// its first successful write resets the back-off.
const STEADY: Duration = Duration::from_secs(1);
/// Problems with a sink's server are said on stderr at most this often.
const NOTICE_EVERY: Duration = Duration::from_secs(10);
/// The largest datagram sent; longer records are cut.
const MAX_DATAGRAM: usize = 65_000;

pub use crate::config::Address;

/// A TCP connection to `address`, trying each of its IP addresses in turn.
fn connect_tcp(address: &Address) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for ip in (address.host.as_str(), address.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&ip, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// How records are delimited on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `LENGTH SP RECORD` (syslog over TCP, RFC 6587).
    OctetCounting,
    /// `RECORD NUL` (GELF over TCP).
    NulTerminated,
}

/// Where records go.
#[derive(Clone)]
pub enum Transport {
    Udp(Address),
    Tcp(Address, Framing),
    Tls(Address, Framing, Arc<ClientConfig>),
    #[cfg(unix)]
    UnixDatagram(PathBuf),
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Udp(address) => write!(f, "udp://{address}"),
            Self::Tcp(address, _) => write!(f, "tcp://{address}"),
            Self::Tls(address, _, _) => write!(f, "tls://{address}"),
            #[cfg(unix)]
            Self::UnixDatagram(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// TLS settings trusting the system's CAs plus those in `ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| {
                format!("{} holds a certificate rustls refuses: {e}", path.display())
            })?;
        }
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    #[cfg(unix)]
    Unix(UnixDatagram),
}

impl Connection {
    fn open(transport: &Transport) -> io::Result<Self> {
        match transport {
            Transport::Udp(address) => {
                let target = (address.host.as_str(), address.port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(target)?;
                Ok(Self::Udp(socket))
            }
            Transport::Tcp(address, _) => Ok(Self::Tcp(connect_tcp(address)?)),
            Transport::Tls(address, _, config) => {
                let name = ServerName::try_from(address.host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let session = ClientConnection::new(config.clone(), name)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let mut stream = StreamOwned::new(session, connect_tcp(address)?);
                // Handshake now, so that a refused certificate shows as a connection error.
                stream.sock.set_read_timeout(Some(CONNECT_TIMEOUT))?;
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                stream.sock.set_read_timeout(None)?;
                Ok(Self::Tls(Box::new(stream)))
            }
            #[cfg(unix)]
            Transport::UnixDatagram(path) => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(path)?;
                socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Self::Unix(socket))
            }
        }
    }

    /// Whether a stream's server has hung up (it never talks otherwise); checked before
    /// each write so that the record goes to a new connection instead of into the void.
    fn is_closed(&mut self) -> bool {
        match self {
            Self::Tcp(stream) => {
                let mut byte = [0u8; 1];
                with_nonblocking(stream, |stream| match stream.peek(&mut byte) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(error) => error.kind() != io::ErrorKind::WouldBlock,
                })
            }
            Self::Tls(stream) => {
                let stream = &mut **stream;
                let (conn, sock) = (&mut stream.conn, &mut stream.sock);
                with_nonblocking(sock, |mut sock| {
                    loop {
                        match conn.read_tls(&mut sock) {
                            Ok(0) => return true,
                            Ok(_) => match conn.process_new_packets() {
                                Ok(state) if state.peer_has_closed() => return true,
                                Ok(state) => {
                                    // Discard what the server said (session tickets).
                                    let mut sink = vec![0; state.plaintext_bytes_to_read()];
                                    let _ = conn.reader().read_exact(&mut sink);
                                }
                                Err(_) => return true,
                            },
                            Err(error) => return error.kind() != io::ErrorKind::WouldBlock,
                        }
                    }
                })
            }
            _ => false,
        }
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            Self::Udp(socket) => socket
                .send(&frame[..frame.len().min(MAX_DATAGRAM)])
                .map(drop),
            Self::Tcp(stream) => stream.write_all(frame),
            Self::Tls(stream) => {
                stream.write_all(frame)?;
                stream.flush()
            }
            #[cfg(unix)]
            Self::Unix(socket) => socket
                .send(&frame[..frame.len().min(MAX_DATAGRAM)])
                .map(drop),
        }
    }
}

fn with_nonblocking(stream: &TcpStream, check: impl FnOnce(&TcpStream) -> bool) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = check(stream);
    closed || stream.set_nonblocking(false).is_err()
}

/// Lines a sink could not deliver (its queue was full, or its server was down).
#[derive(Debug, Default)]
pub struct Lost(AtomicU64);

impl Lost {
    pub fn add(&self, lines: u64) {
        self.0.fetch_add(lines, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A connection that comes back: each `write` is one record, sent on the current
/// connection, or on a new one when the server went away; records that cannot be sent are
/// counted in `lost`, never returned as errors (logging must not fail the caller).
pub struct Reconnecting {
    sink: &'static str,
    transport: Transport,
    connection: Option<Connection>,
    retry_at: Option<Instant>,
    backoff: Duration,
    lost: Arc<Lost>,
    frame: Vec<u8>,
    /// When the current connection was opened.
    opened_at: Instant,
    /// When the last problem was said on stderr.
    noticed: Option<Instant>,
}

impl Reconnecting {
    pub fn new(sink: &'static str, transport: Transport, lost: Arc<Lost>) -> Self {
        Self {
            sink,
            transport,
            connection: None,
            retry_at: None,
            backoff: BACKOFF.0,
            lost,
            frame: Vec::new(),
            opened_at: Instant::now(),
            noticed: None,
        }
    }

    fn send(&mut self, record: &[u8]) -> bool {
        self.frame.clear();
        match &self.transport {
            Transport::Tcp(_, framing) | Transport::Tls(_, framing, _) => match framing {
                Framing::OctetCounting => {
                    self.frame
                        .extend_from_slice(format!("{} ", record.len()).as_bytes());
                    self.frame.extend_from_slice(record);
                }
                Framing::NulTerminated => {
                    self.frame.extend_from_slice(record);
                    self.frame.push(0);
                }
            },
            _ => self.frame.extend_from_slice(record),
        }
        let frame = std::mem::take(&mut self.frame);
        let sent = self.send_frame(&frame);
        self.frame = frame;
        sent
    }

    fn send_frame(&mut self, frame: &[u8]) -> bool {
        // A dead connection is found on the first write; the second goes to a new one.
        for _ in 0..2 {
            let Some(connection) = self.connection() else {
                return false;
            };
            let error = if connection.is_closed() {
                io::Error::from(io::ErrorKind::ConnectionReset)
            } else {
                match connection.send(frame) {
                    Ok(()) => {
                        if self.opened_at.elapsed() >= STEADY {
                            self.backoff = BACKOFF.0;
                        }
                        return true;
                    }
                    Err(error) => error,
                }
            };
            if matches!(connection, Connection::Udp(_))
                && error.kind() == io::ErrorKind::ConnectionRefused
            {
                // Nothing listens (an ICMP answer to an earlier datagram): the line is
                // lost, the socket is fine.
                return false;
            }
            self.connection = None;
            self.notice(&format!(
                "lost the connection to {}: {error}",
                self.transport
            ));
            if self.opened_at.elapsed() < STEADY {
                // A server that hangs up at once is retried with back-off, not per line.
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF.1);
                return false;
            }
        }
        false
    }

    /// Says `what` on stderr (not through tracing, which would loop), at most once per
    /// [`NOTICE_EVERY`].
    fn notice(&mut self, what: &str) {
        if self.noticed.is_some_and(|at| at.elapsed() < NOTICE_EVERY) {
            return;
        }
        self.noticed = Some(Instant::now());
        eprintln!(
            "log sink {}: {what}; lines are dropped (and counted) until it answers",
            self.sink
        );
    }

    /// The open connection, or a new one unless the last attempt failed too recently.
    fn connection(&mut self) -> Option<&mut Connection> {
        if self.connection.is_none() {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return None;
            }
            match Connection::open(&self.transport) {
                Ok(connection) => {
                    if self.retry_at.take().is_some() || self.noticed.is_some() {
                        eprintln!("log sink {}: connected to {}", self.sink, self.transport);
                        self.noticed = None;
                    }
                    self.opened_at = Instant::now();
                    self.connection = Some(connection);
                }
                Err(error) => {
                    self.notice(&format!("cannot connect to {}: {error}", self.transport));
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(BACKOFF.1);
                    return None;
                }
            }
        }
        self.connection.as_mut()
    }
}

impl Write for Reconnecting {
    fn write(&mut self, record: &[u8]) -> io::Result<usize> {
        if !self.send(record) {
            self.lost.add(1);
        }
        Ok(record.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
