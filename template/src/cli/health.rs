//! `health`: the container's health check, a plain HTTP/1.0 `GET` of `/mon/ping` (there is
//! no curl in the image).
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

use super::BoxError;
use crate::config::Settings;

/// How long the check waits to connect, to send, and to read the status line.
const TIMEOUT: Duration = Duration::from_secs(2);

/// `/mon/ping` on the API's port, then on `metrics.listen` when set; a listener on every
/// address is reached on loopback.
pub fn default_urls(settings: &Settings) -> Vec<String> {
    let local = |host: IpAddr| -> String {
        match host {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".into(),
            ip if ip.is_unspecified() => "[::1]".into(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    let api_host = match settings.server.host.parse::<IpAddr>() {
        Ok(ip) => local(ip),
        Err(_) => settings.server.host.clone(),
    };
    let mut urls = vec![format!(
        "http://{api_host}:{}/mon/ping",
        settings.server.port
    )];
    if let Some(address) = settings.metrics.listen {
        urls.push(format!(
            "http://{}:{}/mon/ping",
            local(address.ip()),
            address.port()
        ));
    }
    urls
}

/// One `GET` over plain HTTP/1.0; `Ok` for a 2xx status.
pub fn check(url: &str) -> Result<(), BoxError> {
    let url = url::Url::parse(url)?;
    if url.scheme() != "http" {
        return Err("only http:// URLs are checked".into());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let address = *url
        .socket_addrs(|| Some(80))?
        .first()
        .ok_or("the host has no address")?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {host}\r\nX-Request-Id: healthcheck\r\n\r\n",
        url.path()
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let status = String::from_utf8_lossy(&head);
    match status.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(()),
        Some(code) => Err(format!("answered {code}").into()),
        None => Err("answered something that is not HTTP".into()),
    }
}
