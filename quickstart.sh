#!/bin/bash
# pg_claude quick start on a fresh Debian 12 machine:
# installs what is needed, builds and installs the extension, starts a
# throwaway PostgreSQL cluster and the Bedrock emulator, and runs a demo.
#
#   sudo ./quickstart.sh            demo against the local emulator
#   sudo ./quickstart.sh --bedrock  the same demo against real Bedrock in
#                                   Sydney, with the AWS credentials in
#                                   your environment (see README)
#
# The cluster listens on a Unix socket in /tmp/pg_claude_demo, port 55432:
#   psql -h /tmp/pg_claude_demo -p 55432 -U postgres
# Stop everything with:  sudo ./quickstart.sh --stop
set -euo pipefail
cd "$(dirname "$0")"

DEMO=/tmp/pg_claude_demo
PORT=55432
BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop() {
    if [ -d "$DEMO/data" ]; then as_pg "$BIN/pg_ctl" -D "$DEMO/data" -m fast stop >/dev/null 2>&1 || true; fi
    if [ -f "$DEMO/emulator.pid" ]; then kill "$(cat "$DEMO/emulator.pid")" 2>/dev/null || true; fi
    rm -rf "$DEMO"
}

mode=emulator
case "${1:-}" in
    --stop) stop; echo "stopped"; exit 0 ;;
    --bedrock) mode=bedrock ;;
    "") ;;
    *) echo "usage: $0 [--bedrock|--stop]" >&2; exit 2 ;;
esac

test/install-deps
BIN=$(pg_config --bindir)
make -s
if [ "$(id -u)" = 0 ]; then make -s install; else sudo make -s install; fi

stop
# A failure from here on (emulator, initdb, start, demo) must not leave a
# half-started cluster or emulator behind: stop and remove what was started.
trap 'rc=$?; if [ "$rc" != 0 ]; then echo "quick start failed; stopping what it started" >&2; stop; fi' EXIT
mkdir -p "$DEMO"
[ "$(id -u)" = 0 ] && chown postgres: "$DEMO"
as_pg "$BIN/initdb" -D "$DEMO/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null

if [ "$mode" = emulator ]; then
    python3 test/emulator/bedrock_emulator.py --port 0 --log "$DEMO/emulator.log" >"$DEMO/emulator.out" 2>&1 &
    echo $! >"$DEMO/emulator.pid"
    for _ in $(seq 50); do grep -q '^ready' "$DEMO/emulator.out" 2>/dev/null && break; sleep 0.1; done
    EMU_PORT=$(sed -n 's/^ready http=\([0-9]*\).*/\1/p' "$DEMO/emulator.out")
    ENDPOINT="claude.endpoint = 'http://127.0.0.1:$EMU_PORT'"
    ENV=(AWS_ACCESS_KEY_ID=AKIAPGCLAUDEEMULATOR AWS_SECRET_ACCESS_KEY=emulator/Secret+Key/0123456789abcdefEXAMPLE)
else
    ENDPOINT="# claude.endpoint: derived from claude.region (bedrock-runtime.ap-southeast-2.amazonaws.com)"
    ENV=()
    for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
             AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE; do
        [ -n "${!v:-}" ] && ENV+=("$v=${!v}")
    done
fi

cat >>"$DEMO/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
claude.region = 'ap-southeast-2'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
$ENDPOINT
CONF

as_pg env "${ENV[@]}" "$BIN/pg_ctl" -D "$DEMO/data" -l "$DEMO/server.log" -w start >/dev/null

"$BIN/psql" -X -h "$DEMO" -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL'
\echo '== pg_claude demo =='
CREATE EXTENSION pg_claude;
\echo '-- complete a prompt'
SELECT claude_complete('In one sentence, why do Australian teams care where their data is processed?') AS answer;

\echo '-- a small table of support tickets'
CREATE TABLE tickets (id int PRIMARY KEY, customer text, body text);
INSERT INTO tickets VALUES
  (1, 'Acme',   'Billing: I was charged twice for my March invoice. Can you refund one charge?'),
  (2, 'Globex', 'Bug: the export page crashes when I click download.'),
  (3, 'Acme',   'Praise for the new dashboard! Exporting to CSV would make it perfect.'),
  (4, 'Initech','Since the update I cannot log in; the page says my token expired.');
\echo '-- classify them, rate them, summarise them'
SELECT id, customer,
       claude_classify(body, ARRAY['billing', 'bug', 'praise', 'other']) AS label,
       claude_sentiment(body) AS sentiment,
       claude_summarize(body, 15) AS summary
FROM tickets ORDER BY id;
\echo '-- what each customer told us'
SELECT customer, claude_summarize_agg(body ORDER BY id) FROM tickets GROUP BY customer ORDER BY customer;

\echo '-- the audit log: every call, by whom, where, at what cost'
SELECT pg_sleep(1);
SELECT function_name, model, region, http_status, input_tokens, output_tokens, cache_hit
FROM claude.usage ORDER BY id DESC LIMIT 5;
\echo '-- the whole response, when you need it'
SELECT jsonb_pretty(claude_invoke('{"messages":[{"role":"user","content":"Say hello"}],"max_tokens":50}')
       - 'content' ) AS response_without_content;
SQL

trap - EXIT
echo
echo "Cluster running: psql -h $DEMO -p $PORT -U postgres"
echo "Stop it with:    sudo ./quickstart.sh --stop"
