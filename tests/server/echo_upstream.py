#!/usr/bin/env python3
"""A minimal application behind nginx for tests/server/nginx_test.sh.

Listens on 127.0.0.1 (port 0: the kernel picks one, written to PORT_FILE),
answers every request with 200 and a body listing the request line and its
headers, one `name: value` per line with lower-case names, and appends the
request line to LOG_FILE, so that the test can tell which requests reached it.
HTTP/1.1 with keep-alive (nginx keeps its upstream connections open).

usage: echo_upstream.py PORT_FILE LOG_FILE
"""
import http.server
import sys


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        lines = [f"{self.command} {self.path}"]
        lines += [f"{name.lower()}: {value}" for name, value in self.headers.items()]
        body = ("\n".join(lines) + "\n").encode()
        with open(self.server.log_file, "a") as log:
            log.write(f"{self.command} {self.path}\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, *args):
        pass


def main():
    port_file, log_file = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    server.log_file = log_file
    open(log_file, "w").close()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
