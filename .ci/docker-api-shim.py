"""A Docker API proxy for an engine older than its clients (started by .ci/docker).

Debian's engine (20.10) speaks API 1.41 and refuses requests for a newer version; the
testcontainers crate (bollard) asks for 1.52 without negotiating. This proxy listens on a
Unix socket and passes each request on to the engine's socket with the version in its
path lowered to the engine's (`/v1.52/containers/create` -> `/v1.41/containers/create`);
everything else, bodies and answers, goes through untouched. Each connection carries one
request (`Connection: close` is asked of the engine), except upgraded ones (attach, exec),
which stay open as raw streams.

    python3 docker-api-shim.py LISTEN_SOCKET ENGINE_SOCKET ENGINE_API_VERSION
"""

import os
import re
import socket
import sys
import threading

VERSIONED = re.compile(rb"^(\S+) /v(\d+)\.(\d+)/")


def lowered(request_line: bytes, engine: tuple[int, int]) -> bytes:
    """The request line with an API version above the engine's lowered to it."""
    match = VERSIONED.match(request_line)
    if not match or (int(match[2]), int(match[3])) <= engine:
        return request_line
    return b"%s /v%d.%d/%s" % (match[1], engine[0], engine[1], request_line[match.end():])


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client: socket.socket, engine_path: str, engine: tuple[int, int]) -> None:
    with client:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        header, rest = head.split(b"\r\n\r\n", 1)
        lines = header.split(b"\r\n")
        lines[0] = lowered(lines[0], engine)
        upgrade = any(line.lower().startswith(b"upgrade:") for line in lines[1:])
        if not upgrade:
            lines = [line for line in lines if not line.lower().startswith(b"connection:")]
            lines.append(b"Connection: close")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            upstream.connect(engine_path)
            upstream.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + rest)
            sending = threading.Thread(target=pipe, args=(client, upstream), daemon=True)
            sending.start()
            pipe(upstream, client)
            sending.join(timeout=1)


def main() -> None:
    listen_path, engine_path, version = sys.argv[1:4]
    major, minor = (int(part) for part in version.split("."))
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(listen_path)
        server.listen(64)
        print(f"docker-api-shim: {listen_path} -> {engine_path} (API {version})", flush=True)
        while True:
            client, _ = server.accept()
            threading.Thread(
                target=serve, args=(client, engine_path, (major, minor)), daemon=True
            ).start()


if __name__ == "__main__":
    main()
