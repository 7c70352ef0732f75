//! A Redis Cluster on loopback for the queue's tests: 3 masters and 3 replicas, each a
//! `redis-server --cluster-enabled yes` on free ports, joined by `redis-cli --cluster
//! create`. One is shared by every test of the binary (started on first use, stopped when
//! the binary exits); a test that stops nodes starts one of its own.
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a node may be silent before the others call it failed (ms): short, so that
/// a failover takes a few seconds.
const NODE_TIMEOUT_MS: u64 = 1000;

/// The binary's shared cluster, or `None` without `redis-server` (outside `CI`).
static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();

/// One `redis-server` of the cluster.
struct Node {
    port: u16,
    server: Option<Child>,
}

/// A running cluster; dropping it stops every node and removes its files.
pub struct Cluster {
    nodes: Vec<Node>,
    /// Stops the nodes and removes their folder when this process ends, however it ends:
    /// a shell that waits for the end of its input, which is this pipe.
    watchdog: Child,
    _input: ChildStdin,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// The URL of the binary's shared cluster: started on first use, never stopped by a
    /// test. `None` (said once) without `redis-server`; under `CI` that fails the test.
    pub fn shared_url() -> Option<String> {
        SHARED
            .get_or_init(|| Self::start_or_skip("the cluster tests are SKIPPED"))
            .as_ref()
            .map(Cluster::url)
    }

    /// A cluster of the caller's own, to stop nodes of.
    pub fn start_or_skip(without: &str) -> Option<Self> {
        match Self::start() {
            Ok(cluster) => Some(cluster),
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("CI is set but a Redis Cluster cannot be started: {error}")
            }
            Err(error) => {
                crate::support::notice(&format!(
                    "\n*** No Redis Cluster ({error}): {without}.\n\
                     *** Install redis-server and redis-cli (7.x) to run them.\n"
                ));
                None
            }
        }
    }

    fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        // A port and a cluster bus port per node, all taken at once so none repeats.
        let listeners: Vec<std::net::TcpListener> = (0..12)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("free ports: {e}"))?;
        let ports: Vec<u16> = listeners
            .iter()
            .map(|listener| listener.local_addr().map(|address| address.port()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("free ports: {e}"))?;
        drop(listeners);

        let mut nodes = Vec::new();
        for pair in ports.chunks(2) {
            let (port, bus) = (pair[0], pair[1]);
            let folder = dir.path().join(port.to_string());
            std::fs::create_dir(&folder).map_err(|e| format!("node folder: {e}"))?;
            let server = node_command(port, bus, &folder)
                .spawn()
                .map_err(|e| format!("redis-server: {e}"))?;
            nodes.push(Node {
                port,
                server: Some(server),
            });
        }
        let pids: Vec<String> = nodes
            .iter()
            .filter_map(|node| node.server.as_ref().map(|s| s.id().to_string()))
            .collect();
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read _; kill -9 {} 2>/dev/null; rm -rf '{}'",
                pids.join(" "),
                dir.path().display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut watchdog = match watchdog {
            Ok(watchdog) => watchdog,
            Err(error) => {
                for node in &mut nodes {
                    if let Some(mut server) = node.server.take() {
                        let _ = server.kill();
                        let _ = server.wait();
                    }
                }
                return Err(format!("sh: {error}"));
            }
        };
        let input = watchdog.stdin.take().ok_or("the watchdog's input")?;
        let cluster = Self {
            nodes,
            watchdog,
            _input: input,
            _dir: dir,
        };
        for node in &cluster.nodes {
            wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", node.port)).is_ok()
            })
            .then_some(())
            .ok_or_else(|| format!("redis-server on port {} does not answer", node.port))?;
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if !created.status.success() {
            return Err(format!(
                "redis-cli --cluster create: {}{}",
                String::from_utf8_lossy(&created.stdout),
                String::from_utf8_lossy(&created.stderr)
            ));
        }
        let ready = wait_until(Duration::from_secs(30), || {
            cluster.nodes.iter().all(|node| {
                cli(node.port, &["cluster", "info"]).contains("cluster_state:ok")
                    && !cli(node.port, &["info", "replication"]).contains("master_link_status:down")
            })
        });
        if !ready {
            return Err("the cluster did not settle within 30 s".into());
        }
        Ok(cluster)
    }

    /// `redis-cluster://` naming every node (`?node=`), so that a client started while
    /// one is down still finds the cluster.
    pub fn url(&self) -> String {
        let others: Vec<String> = self.nodes[1..]
            .iter()
            .map(|node| format!("node=127.0.0.1:{}", node.port))
            .collect();
        format!(
            "redis-cluster://127.0.0.1:{}?{}",
            self.nodes[0].port,
            others.join("&")
        )
    }

    /// The master serving `key`, and its replica (by port).
    pub fn master_and_replica_of(&self, key: &str) -> (u16, u16) {
        let port = self.running_port();
        let slot: u16 = cli(port, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("a slot number");
        let nodes = cli(port, &["cluster", "nodes"]);
        let lines: Vec<Vec<&str>> = nodes
            .lines()
            .map(|line| line.split_whitespace().collect())
            .filter(|fields: &Vec<&str>| fields.len() >= 8)
            .collect();
        let master = lines
            .iter()
            .find(|fields| {
                fields[2].contains("master")
                    && !fields[2].contains("fail")
                    && fields[8..].iter().any(|range| serves(range, slot))
            })
            .unwrap_or_else(|| panic!("no master serves slot {slot}:\n{nodes}"));
        let replica = lines
            .iter()
            .find(|fields| fields[2].contains("slave") && fields[3] == master[0])
            .unwrap_or_else(|| panic!("the master of slot {slot} has no replica:\n{nodes}"));
        (port_of(master[1]), port_of(replica[1]))
    }

    /// Kills the node on `port` (SIGKILL: no goodbye, no last replication).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a node of this cluster");
        if let Some(mut server) = node.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Whether the node on `port` is a master, seen from itself.
    pub fn is_master(&self, port: u16) -> bool {
        cli(port, &["info", "replication"]).contains("role:master")
    }

    /// Whether every running node sees the cluster whole (every slot served).
    pub fn is_ok(&self) -> bool {
        self.nodes
            .iter()
            .filter(|node| node.server.is_some())
            .all(|node| cli(node.port, &["cluster", "info"]).contains("cluster_state:ok"))
    }

    fn running_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|node| node.server.is_some())
            .map(|node| node.port)
            .expect("a running node")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut server) = node.server.take() {
                let _ = server.kill();
                let _ = server.wait();
            }
        }
        // Its work is done (the folder goes with `_dir`).
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

fn node_command(port: u16, bus: u16, folder: &Path) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args([
            "--port",
            &port.to_string(),
            "--cluster-port",
            &bus.to_string(),
        ])
        .args(["--bind", "127.0.0.1", "--cluster-enabled", "yes"])
        .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
        .args(["--cluster-config-file", "nodes.conf", "--save", ""])
        .args(["--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(folder)
        .arg("--logfile")
        .arg(folder.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// One `redis-cli` command on the node at `port`: its output, empty if it fails.
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether a slot field of `CLUSTER NODES` (`5461-10922` or `42`) holds `slot`.
fn serves(range: &str, slot: u16) -> bool {
    let mut bounds = range.splitn(2, '-').map(str::parse::<u16>);
    match (bounds.next(), bounds.next()) {
        (Some(Ok(first)), Some(Ok(last))) => (first..=last).contains(&slot),
        (Some(Ok(only)), None) => only == slot,
        _ => false,
    }
}

/// The client port of a `CLUSTER NODES` address (`127.0.0.1:7000@17000`).
fn port_of(address: &str) -> u16 {
    address
        .split(['@', ','])
        .next()
        .and_then(|host_port| host_port.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {address}"))
}

/// Polls `done` every 50 ms until it holds or `patience` runs out; says whether it held.
fn wait_until(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
