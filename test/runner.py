#!/usr/bin/env python3
"""Run every pg_claude test and end with `N passed, M failed`.

Suites, in order:
  unit      SigV4 against AWS's test vectors (test/unit), and against botocore;
            the event-stream decoder on AWS's vectors and a fixed fuzz loop;
            the layering of src/ (test/lint/layers.py)
  emulator  the emulator's fidelity, checked with the real boto3 and, for
            the Anthropic API, Anthropic's TypeScript SDK (Node.js)
  regress   pg_regress (sql/, expected/): `make installcheck` against a fresh
            cluster (it starts the emulator itself)
  t         integration tests (test/t/*.py): retries, keep-alive, cancel,
            timeouts, TLS, credentials, secrets in logs

Each suite prints its own lines; this runner adds up the counts.
"""

import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

REPO = harness.REPO
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed\s*$")

totals = {"passed": 0, "failed": 0}


def count(passed, failed, label):
    totals["passed"] += passed
    totals["failed"] += failed
    print(f"# {label}: {passed} passed, {failed} failed", flush=True)


def run_counted(argv, label, cwd=REPO, timeout=900):
    """Run a program that ends with `N passed, M failed`; echo its output."""
    print(f"# --- {label}: {' '.join(argv)}", flush=True)
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        out = r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\n(timed out)"
        r = None
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    last = None
    for line in out.splitlines():
        m = SUMMARY.match(line.strip())
        if m:
            last = (int(m.group(1)), int(m.group(2)))
    if last is None:
        count(0, 1, label + " (no summary line: crashed or timed out)")
    else:
        passed, failed = last
        if r is not None and r.returncode != 0 and failed == 0:
            failed = 1
        count(passed, failed, label)


def unit_suite():
    r = subprocess.run(["make", "-s", "-C", "test/unit"], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        count(0, 1, "unit build")
        return
    vectors = os.path.join(REPO, "test", "unit", "vectors")
    for suite in sorted(glob.glob(os.path.join(vectors, "*"))):
        if os.path.isdir(suite):
            run_counted([os.path.join(REPO, "test/unit/sigv4_vectors"), suite],
                        "sigv4 vectors " + os.path.basename(suite))
    run_counted([sys.executable, "test/unit/test_sigv4_botocore.py"], "sigv4 vs botocore")
    run_counted([os.path.join(REPO, "test/unit/event_stream_vectors"),
                 os.path.join(REPO, "test", "unit", "eventstream")],
                "event-stream decoder vectors and fuzz")
    run_counted([os.path.join(REPO, "test/unit/redact_local_test"), "-n", "1000"],
                "local redaction pass on a generated corpus")
    run_counted([sys.executable, "test/lint/layers.py"], "layers (no include or call cycle in src/)")


def emulator_suite():
    run_counted([sys.executable, "test/emulator/test_units.py"], "emulator units")
    run_counted([sys.executable, "test/emulator/test_boto3.py"], "emulator vs boto3")
    run_counted([sys.executable, "test/emulator/test_boto3_control.py"],
                "emulator control plane and model traits vs boto3")
    run_counted([sys.executable, "test/emulator/test_boto3_credentials.py"], "emulator credential chain")
    run_counted([sys.executable, "test/emulator/test_boto3_s3.py"], "emulator S3 vs boto3")
    run_counted([sys.executable, "test/emulator/test_boto3_batch.py"],
                "emulator batch inference vs boto3")
    run_counted([sys.executable, "test/emulator/test_sdk_anthropic.py"],
                "emulator Anthropic API vs the TypeScript SDK")
    run_counted([sys.executable, "test/emulator/test_boto3_stream.py"], "emulator streams vs boto3")
    run_counted([sys.executable, "test/emulator/test_boto3_guardrail.py"], "emulator guardrails vs boto3")
    run_counted([sys.executable, "test/emulator/test_boto3_documents.py"], "emulator documents vs boto3")
    run_counted([sys.executable, "test/emulator/test_botocore_messages.py"],
                "emulator Bedrock Messages API vs botocore's signer")


def regress_suite():
    """`make installcheck`, as a user runs it, against a fresh cluster that
    has nothing configured for pg_claude (it starts the emulator itself)."""
    print("# --- regress: make installcheck against a fresh cluster", flush=True)
    cluster = harness.Cluster("regress", harness.free_port())
    try:
        cluster.start(env={})
        r = harness.installcheck(cluster)
        print(r.stdout + r.stderr)
        passed, failed = harness.regress_results(r.stdout)
        diffs = os.path.join(REPO, "regression.diffs")
        if r.returncode != 0 and os.path.exists(diffs) and os.path.getsize(diffs) > 0:
            print(open(diffs).read())
        if r.returncode != 0 and failed == 0:
            failed = 1
        count(passed, failed, "regress")
    finally:
        cluster.destroy()


def integration_suite():
    for script in sorted(glob.glob(os.path.join(REPO, "test", "t", "*.py"))):
        run_counted([sys.executable, script], "t/" + os.path.basename(script))


def main():
    only = sys.argv[1:]
    suites = [("unit", unit_suite),
              ("emulator", emulator_suite),
              ("regress", regress_suite),
              ("t", integration_suite)]
    for name, fn in suites:
        if only and name not in only:
            continue
        try:
            fn()
        except Exception as e:  # a broken suite is a failure, not a crash
            print(f"# suite {name} crashed: {e!r}")
            count(0, 1, name)
    print(f"{totals['passed']} passed, {totals['failed']} failed", flush=True)
    return 0 if totals["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
