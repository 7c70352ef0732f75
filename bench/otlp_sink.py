"""A stand-in OpenTelemetry collector for the benchmark: takes OTLP/HTTP exports and drops them.

  otlp_sink.py PORT      serves http://127.0.0.1:PORT/v1/traces until it is stopped (SIGTERM)

Each POST is read whole and answered 200 with an empty ExportTraceServiceResponse, as a
collector does, so that the service's exporter does the work it does in production (spans
encoded, compressed if asked, sent) without a real collector's CPU in the measured window.
On SIGTERM it prints how many exports and bytes it took: a traced run that exported nothing
measured nothing.
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

taken = {"exports": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        taken["exports"] += 1
        taken["bytes"] += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"otlp sink: {taken['exports']} exports, {taken['bytes']} bytes", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
