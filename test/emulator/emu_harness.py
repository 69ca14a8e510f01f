"""Start a throwaway emulator from Python tests (stdlib only).

    with EmulatorProcess() as emu:          # free ports, TLS on, default creds
        emu.http_url, emu.https_url, emu.ca_file
        emu.control("POST", "/_emulator/faults", {"fault": "throttle"})

TLS material is made with the ``openssl`` command line in a temporary
directory: a CA, and a server certificate for 127.0.0.1 / localhost signed by
it, so clients verify with ``ca_file`` (boto3 ``verify=``, libcurl CAINFO,
``claude.ca_file``).  ``python3 emu_harness.py DIR`` writes the same files to
DIR for shell scripts.

The control connection is one persistent HTTP/1.1 connection, opened at start,
so control calls do not add to the emulator's connection counts after a reset.
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "bedrock_emulator.py")


def make_tls_material(directory):
    """Write ca.pem, server.pem, server.key into ``directory``; return their paths."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=pg_claude emulator test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "server.ext"), "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                  "basicConstraints=CA:FALSE\n"
                  "keyUsage=critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return tuple(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key"))


class EmulatorProcess:
    def __init__(self, tls=True, extra_args=(), log=None):
        self.tls = tls
        self.extra_args = list(extra_args)
        self.log = log
        self.process = None
        self.tmp = None
        self._control = None

    def start(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bedrock-emu-")
        args = [sys.executable, EMULATOR, "--port", "0"]
        if self.tls:
            self.ca_file, cert, key = make_tls_material(self.tmp.name)
            args += ["--tls-port", "0", "--tls-cert", cert, "--tls-key", key]
        if self.log:
            args += ["--log", self.log]
        self.process = subprocess.Popen(args + self.extra_args, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().split()
        if not line or line[0] != "ready":
            self.stop()
            raise RuntimeError("emulator did not start")
        ports = dict(item.split("=") for item in line[1:])
        self.http_port, self.https_port = int(ports["http"]), int(ports["https"])
        self.http_url = "http://127.0.0.1:%d" % self.http_port
        self.https_url = "https://127.0.0.1:%d" % self.https_port if self.https_port else None
        self._control = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        return self

    def control(self, method, path, body=None):
        """Call the control API; return the decoded JSON answer."""
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        self._control.request(method, path, body=payload, headers=headers)
        response = self._control.getresponse()
        data = json.loads(response.read() or b"null")
        if response.status != 200:
            raise RuntimeError("control %s %s: %s" % (method, path, data))
        return data

    def stats(self):
        return self.control("GET", "/_emulator/stats")

    def reset(self):
        return self.control("POST", "/_emulator/reset")

    def fault(self, **spec):
        return self.control("POST", "/_emulator/faults", spec)

    def stop(self):
        if self._control is not None:
            self._control.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        if self.tmp is not None:
            self.tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: emu_harness.py DIR   (writes ca.pem server.pem server.key)")
    os.makedirs(sys.argv[1], exist_ok=True)
    print("\n".join(make_tls_material(sys.argv[1])))
