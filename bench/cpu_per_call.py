#!/usr/bin/env python3
"""Backend CPU per claude_complete call, and the same work done by boto3.

Starts the emulator (zero added latency) and a throwaway cluster, then:
  (a) one backend runs N sequential claude_complete() calls; its CPU time is
      read from /proc/<pid>/stat before and after;
  (b) one Python thread runs N sequential boto3 invoke_model() calls with the
      same body; its CPU time is time.process_time().
Prints calls/s, CPU per call and connections opened.  Not a timed test: it
prints figures.   Usage: bench/cpu_per_call.py [N]
"""

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "lib"))
import harness  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def bench_extension(emu, pg):
    import subprocess
    emu.reset()
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write("SELECT pg_backend_pid();\n")
    proc.stdin.write("SELECT claude_complete('warm up');\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline())
    proc.stdout.readline()
    cpu0 = proc_cpu_seconds(pid)
    t0 = time.monotonic()
    proc.stdin.write(f"SELECT count(claude_complete('Benchmark prompt number ' || i)) "
                     f"FROM generate_series(1, {N}) i;\n")
    proc.stdin.flush()
    proc.stdout.readline()
    wall = time.monotonic() - t0
    cpu = proc_cpu_seconds(pid) - cpu0
    proc.stdin.close()
    proc.wait()
    st = emu.stats()
    return wall, cpu, st["bedrock_connections"]


def bench_boto3(emu):
    import boto3
    from botocore.config import Config
    emu.reset()
    client = boto3.client("bedrock-runtime", region_name="ap-southeast-2",
                          endpoint_url=emu.http_url,
                          aws_access_key_id=harness.EMU_AKID,
                          aws_secret_access_key=harness.EMU_SECRET,
                          config=Config(retries={"mode": "standard"}))
    model = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"

    def call(i):
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024,
                           "messages": [{"role": "user", "content": f"Benchmark prompt number {i}"}]})
        r = client.invoke_model(modelId=model, body=body)
        return json.loads(r["body"].read())["content"][0]["text"]

    call(0)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    for i in range(1, N + 1):
        call(i)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    return wall, cpu, emu.stats()["bedrock_connections"]


def main():
    work = tempfile.mkdtemp(prefix="pg_claude_bench_")
    emu = harness.Emulator(work, tls=False)
    pg = harness.Cluster("bench", harness.free_port(), conf=f"claude.endpoint = '{emu.http_url}'")
    try:
        pg.start(env=harness.emulator_env())
        pg.query("CREATE EXTENSION pg_claude")
        ext = bench_extension(emu, pg)
        b3 = bench_boto3(emu)
    finally:
        pg.destroy()
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{N} sequential calls against the emulator (no added latency), one process each")
    print(f"{'client':<22}{'calls/s':>10}{'CPU ms/call':>14}{'connections':>13}")
    for name, (wall, cpu, conns) in (("pg_claude backend", ext), ("boto3 (1 thread)", b3)):
        print(f"{name:<22}{N / wall:>10.0f}{cpu * 1000 / N:>14.3f}{conns:>13}")
    print(f"CPU ratio boto3 / pg_claude: {(b3[1] / max(ext[1], 1e-9)):.1f}x")


if __name__ == "__main__":
    main()
