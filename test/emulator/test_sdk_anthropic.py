#!/usr/bin/env python3
"""The emulator's Anthropic API endpoints checked with Anthropic's official
TypeScript SDK (@anthropic-ai/sdk, test/emulator/sdk): runs sdk/check.mjs
with the machine's Node.js and passes on its `N passed, M failed`.
test/install-deps installs Node.js (apt) and the SDK (npm ci)."""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.join(HERE, "sdk")
sys.path.insert(0, HERE)
import emu_anthropic  # noqa: E402


def main():
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(SDK, "node_modules", "@anthropic-ai", "sdk")):
        print("not ok - sdk: Node.js and @anthropic-ai/sdk are installed (run test/install-deps)")
        print("0 passed, 1 failed")
        return 1
    env = dict(os.environ, EMU_ANTHROPIC_KEY=sorted(emu_anthropic.API_KEYS)[0])
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    r = subprocess.run([node, os.path.join(SDK, "check.mjs")], cwd=SDK, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    sys.stdout.write(r.stdout)
    last = r.stdout.strip().splitlines()[-1:] or [""]
    if " passed, " not in last[0]:
        print("not ok - sdk: check.mjs ended with its summary")
        print("0 passed, 1 failed")
        return 1
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
