"""A real TLS + HTTP/2 front for the emulator: Debian's nginx, configured
under a test's work directory.

The emulator speaks HTTP/1.1 only; production Bedrock speaks HTTP/2 over
TLS.  Proxy puts nginx in front of it, on free loopback ports, with a CA
made at test time (harness.make_test_ca), so pg_claude's transport meets
ALPN, multiplexing, stream limits, GOAWAY and TLS session resumption as it
would in production, while the emulator still verifies every signature:
nginx passes the Host header through unchanged and keeps HTTP/1.1
connections to the emulator alive.

    proxy = Proxy(work, emu.http_port, [
        Listener("h2"),                                   # TLS, h2 and http/1.1 by ALPN
        Listener("h1", http2=False),                      # TLS, HTTP/1.1 only
        Listener("few", max_concurrent_streams=4),
        Listener("goaway", keepalive_requests=5),         # GOAWAY after 5 requests
    ])
    proxy.url("h2"), proxy.ca_file, proxy.log_entries(), proxy.reload(), proxy.stop()

Every request is logged (access.log, one JSON object a line) with nginx's
connection number and request count on it, the protocol, whether the TLS
session was resumed, and when it started and ended, so tests count
connections and overlap at the proxy.  nginx runs in the foreground
(`daemon off`) with its pid file, logs and temporary files in the work
directory; as root its workers run as root too (nothing here is served to
anyone but loopback clients of the test).
"""

import json
import os
import signal
import subprocess
import time

from harness import free_port, make_test_ca

NGINX = "/usr/sbin/nginx"

LOG_FORMAT = ('{"listener":"$server_port","connection":$connection,'
              '"connection_requests":$connection_requests,"protocol":"$server_protocol",'
              '"http2":"$http2","ssl_protocol":"$ssl_protocol","reused":"$ssl_session_reused",'
              '"status":$status,"method":"$request_method","uri":"$request_uri",'
              '"end":$msec,"request_time":$request_time}')


class Listener:
    """One TLS port of the proxy and how it behaves."""

    def __init__(self, name, http2=True, max_concurrent_streams=128, keepalive_requests=1000,
                 keepalive_timeout="75s"):
        self.name = name
        self.http2 = http2
        self.max_concurrent_streams = max_concurrent_streams
        self.keepalive_requests = keepalive_requests
        self.keepalive_timeout = keepalive_timeout
        self.port = None


def available():
    """Whether nginx (with http2 and ssl) is installed: test/install-deps adds it."""
    if not os.access(NGINX, os.X_OK):
        return False
    r = subprocess.run([NGINX, "-V"], capture_output=True, text=True)
    return "http_v2_module" in r.stderr and "http_ssl_module" in r.stderr


class Proxy:
    def __init__(self, workdir, upstream_port, listeners):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(workdir, 0o755)  # the server (another user) reads the CA file
        self.upstream_port = upstream_port
        self.listeners = {l.name: l for l in listeners}
        for l in listeners:
            l.port = free_port()
        self.ca_file, self.cert, self.key = make_test_ca(self.dir)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.pid_file = os.path.join(self.dir, "nginx.pid")
        self.error_log = os.path.join(self.dir, "error.log")
        self.access_log = os.path.join(self.dir, "access.log")
        self.proc = None
        self._write_conf()
        self.start()

    def url(self, name):
        return f"https://127.0.0.1:{self.listeners[name].port}"

    def _write_conf(self):
        temp = {k: os.path.join(self.dir, k) for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for d in temp.values():
            os.makedirs(d, exist_ok=True)
        servers = []
        for l in self.listeners.values():
            servers.append(f"""
    server {{
        listen 127.0.0.1:{l.port} ssl{' http2' if l.http2 else ''};
        ssl_certificate {self.cert};
        ssl_certificate_key {self.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:pgclaude_{l.name}:1m;
        ssl_session_timeout 10m;
        http2_max_concurrent_streams {l.max_concurrent_streams};
        keepalive_requests {l.keepalive_requests};
        keepalive_timeout {l.keepalive_timeout};
        location / {{
            proxy_pass http://emulator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_read_timeout 120s;
        }}
    }}""")
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""# written by test/lib/proxy.py
daemon off;
master_process on;
worker_processes 1;
{user}pid {self.pid_file};
error_log {self.error_log} info;
events {{ worker_connections 1024; }}
http {{
    log_format pgclaude escape=json '{LOG_FORMAT}';
    access_log {self.access_log} pgclaude;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    client_max_body_size 64m;
    upstream emulator {{
        server 127.0.0.1:{self.upstream_port};
        keepalive 64;
    }}
{''.join(servers)}
}}
"""
        with open(self.conf, "w") as f:
            f.write(conf)

    def _argv(self, *extra):
        return [NGINX, "-p", self.dir, "-c", self.conf, "-e", self.error_log, *extra]

    def start(self):
        r = subprocess.run(self._argv("-t"), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nginx -t failed: " + r.stderr)
        self.proc = subprocess.Popen(self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read())
            if all(self._listening(l.port) for l in self.listeners.values()):
                return
            time.sleep(0.02)
        self.stop()     # never leave it running behind a failed test
        raise RuntimeError("nginx did not start listening: " + self.read_error_log()[-2000:])

    @staticmethod
    def _listening(port):
        import socket
        s = socket.socket()
        try:
            s.settimeout(0.2)
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def reload(self):
        """SIGHUP: new workers take new connections; the old ones finish what
        they have and close theirs (a GOAWAY on HTTP/2)."""
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self, graceful=False):
        """SIGTERM (fast: connections cut) or SIGQUIT (graceful)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGQUIT if graceful else signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self):
        self.stop()
        self.start()

    def log_entries(self, since=0):
        """The access log's entries from byte offset since: (entries, new offset)."""
        try:
            with open(self.access_log) as f:
                f.seek(since)
                text = f.read()
                end = f.tell()
        except OSError:
            return [], since
        return [json.loads(line) for line in text.splitlines() if line.strip()], end

    def log_offset(self):
        try:
            return os.path.getsize(self.access_log)
        except OSError:
            return 0

    def read_error_log(self):
        try:
            with open(self.error_log) as f:
                return f.read()
        except OSError:
            return ""
