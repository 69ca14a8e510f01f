#!/bin/bash
# pg_claude quick start on a fresh Debian 12 machine:
# installs what is needed, builds and installs the extension, starts a
# throwaway PostgreSQL cluster and the Bedrock emulator, and runs a demo.
#
#   sudo ./quickstart.sh            demo against the local emulator
#   sudo ./quickstart.sh --bedrock  the same demo against real Bedrock in
#                                   Sydney, with the AWS credentials of your
#                                   shell (environment or profile; see README)
#   sudo ./quickstart.sh --stop     stop the cluster and emulator, remove them
#
# The cluster listens on a Unix socket in /tmp/pg_claude_demo, port 55432:
#   psql -h /tmp/pg_claude_demo -p 55432 -U postgres
# PG_CLAUDE_DEMO_DIR and PG_CLAUDE_DEMO_PORT choose another directory and
# port (give --stop the same ones).
#
# The server's credentials are a profile pg_claude_demo_<port> in the
# server user's shared credentials file (~postgres/.aws/credentials, mode
# 0600) and claude.profile names it, so a `pg_ctl restart` from any shell
# keeps them; --stop (or a failed start) removes that profile again.
set -euo pipefail
cd "$(dirname "$0")"

DEMO=${PG_CLAUDE_DEMO_DIR:-/tmp/pg_claude_demo}
PORT=${PG_CLAUDE_DEMO_PORT:-55432}
PROFILE=pg_claude_demo_$PORT
MARK_BEGIN="# pg_claude quickstart ($DEMO): begin"
MARK_END="# pg_claude quickstart ($DEMO): end"
BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# The file the server reads by default: $HOME of the server's user (runuser
# sets it, as sudo -u and su do), as src/aws_profile.c looks it up.
# shellcheck disable=SC2016  # expanded by the server user's shell
creds_file() { as_pg sh -c 'echo "${HOME:?}/.aws/credentials"'; }

# Remove this demo's profile block; the file (and ~/.aws) too if nothing else is left.
# shellcheck disable=SC2016  # the script runs in the server user's shell
drop_creds() {
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then return 0; fi
    as_pg sh -c '
        f=$1; [ -f "$f" ] || exit 0
        umask 077
        awk -v b="$2" -v e="$3" '"'"'$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}'"'"' "$f" >"$f.quickstart"
        cat "$f.quickstart" >"$f"; rm -f "$f.quickstart"
        if ! grep -q "[^[:space:]]" "$f"; then rm -f "$f"; rmdir "$(dirname "$f")" 2>/dev/null || true; fi' \
        sh "$(creds_file)" "$MARK_BEGIN" "$MARK_END"
}

# Append this demo's profile block; the access key id, secret and session
# token come on stdin, one a line, so they never show in a process listing.
# shellcheck disable=SC2016  # the script runs in the server user's shell
add_creds() {
    as_pg sh -c '
        f=$1; umask 077; mkdir -p "$(dirname "$f")"
        IFS= read -r akid; IFS= read -r secret; IFS= read -r token || true
        { if [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ]; then echo; fi
          printf "%s\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n" "$2" "$4" "$akid" "$secret"
          if [ -n "$token" ]; then printf "aws_session_token = %s\n" "$token"; fi
          printf "%s\n" "$3"; } >>"$f"
        chmod 600 "$f"' \
        sh "$(creds_file)" "$MARK_BEGIN" "$MARK_END" "$PROFILE"
}

stop() {
    if [ -d "$DEMO/data" ]; then as_pg "$BIN/pg_ctl" -D "$DEMO/data" -m fast stop >/dev/null 2>&1 || true; fi
    if [ -f "$DEMO/emulator.pid" ]; then
        # it shuts its servers down before it exits: wait for that, as pg_ctl -w does
        pid=$(cat "$DEMO/emulator.pid")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    drop_creds
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

# Where the --bedrock demo's credentials come from, resolved as the AWS CLI
# would from this shell (boto3, installed by test/install-deps): "imds" when
# they are the instance's own role, which the server finds itself.
bedrock_source() {
    python3 -c '
import sys, boto3
c = boto3.Session().get_credentials()
if c is None:
    sys.exit("no AWS credentials in this shell (environment, AWS_PROFILE, ~/.aws or instance role)")
print("imds" if c.method == "iam-role" else c.method)'
}
bedrock_keys() {
    python3 -c '
import sys, boto3
f = boto3.Session().get_credentials().get_frozen_credentials()
print(f.access_key); print(f.secret_key); print(f.token or "")
if f.token:
    print("note: these are temporary credentials; when they expire, run the quick start again", file=sys.stderr)'
}
if [ "$mode" = bedrock ]; then
    if ! SOURCE=$(bedrock_source); then
        echo "quick start --bedrock: give this shell AWS credentials first (see README, Quick start)" >&2
        exit 1
    fi
fi

stop
# A failure from here on (emulator, initdb, start, demo) must not leave a
# half-started cluster or emulator behind: stop and remove what was started.
on_exit() {
    local rc=$?
    if [ "$rc" != 0 ]; then echo "quick start failed; stopping what it started" >&2; stop; fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$DEMO"
[ "$(id -u)" = 0 ] && chown postgres: "$DEMO"
as_pg "$BIN/initdb" -D "$DEMO/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null

CREDS="claude.profile = '$PROFILE'"
if [ "$mode" = emulator ]; then
    python3 test/emulator/bedrock_emulator.py --port 0 --log "$DEMO/emulator.log" >"$DEMO/emulator.out" 2>&1 &
    echo $! >"$DEMO/emulator.pid"
    for _ in $(seq 50); do grep -q '^ready' "$DEMO/emulator.out" 2>/dev/null && break; sleep 0.1; done
    EMU_PORT=$(sed -n 's/^ready http=\([0-9]*\).*/\1/p' "$DEMO/emulator.out")
    if [ -z "$EMU_PORT" ]; then echo "the Bedrock emulator did not start:" >&2; cat "$DEMO/emulator.out" >&2; exit 1; fi
    ENDPOINT="claude.endpoint = 'http://127.0.0.1:$EMU_PORT'"
    printf '%s\n' AKIAPGCLAUDEEMULATOR emulator/Secret+Key/0123456789abcdefEXAMPLE "" | add_creds
else
    ENDPOINT="# claude.endpoint: derived from claude.region (bedrock-runtime.ap-southeast-2.amazonaws.com)"
    if [ "$SOURCE" = imds ]; then
        CREDS="# claude.profile: none, the server takes the instance role from IMDSv2 itself"
    else
        bedrock_keys | add_creds
    fi
fi

# pg_cron, when installed (test/install-deps installs postgresql-15-cron):
# its jobs run in background workers, since the cluster takes no TCP
# connections (listen_addresses = '') for pg_cron to connect over.
PRELOAD=pg_claude
CRON="# pg_cron is not installed"
if [ -f "$(pg_config --pkglibdir)/pg_cron.so" ]; then
    PRELOAD=pg_claude,pg_cron
    CRON="cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16"
fi

cat >>"$DEMO/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
claude.region = 'ap-southeast-2'
shared_preload_libraries = '$PRELOAD'
claude.database_name = 'postgres'
$CREDS
$ENDPOINT
$CRON
CONF

# Started with none of this shell's AWS_* variables, as a later restart from
# another shell would be: the credentials are the profile's.
UNSET=()
for v in $(compgen -e); do case "$v" in AWS_*) UNSET+=(-u "$v") ;; esac; done
as_pg env "${UNSET[@]}" "$BIN/pg_ctl" -D "$DEMO/data" -l "$DEMO/server.log" -w start >/dev/null

"$BIN/psql" -X -h "$DEMO" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL'
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

trap - EXIT INT TERM
if [ "$(id -u)" = 0 ]; then PG_AS="runuser -u postgres --"; else PG_AS=""; fi
HERE=$(pwd)
ENVS=""
[ "$DEMO" != /tmp/pg_claude_demo ] && ENVS+="PG_CLAUDE_DEMO_DIR=$DEMO "
[ "$PORT" != 55432 ] && ENVS+="PG_CLAUDE_DEMO_PORT=$PORT "
echo
echo "Cluster running: psql -h $DEMO -p $PORT -U postgres"
echo "Restart it with: ${PG_AS:+$PG_AS }$BIN/pg_ctl -D $DEMO/data -l $DEMO/server.log restart"
echo "Stop it with:    ${ENVS}$HERE/quickstart.sh --stop"
