\set ECHO none
-- Shell commands for sql/setup.sql and sql/teardown.sql, run by the server
-- (COPY ... TO PROGRAM, as the server's OS user, so with the server's
-- environment): they find the shared credentials file the server reads
-- (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials, as
-- src/aws_profile.c does), and add or remove one marked block in it, the
-- profile pg_claude_installcheck.  Whatever else is in the file is kept.
SELECT $sh$
umask 077
h=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
f=${AWS_SHARED_CREDENTIALS_FILE:-$h/.aws/credentials}
case $f in "~/"*) f=$h/${f#"~/"} ;; esac
if [ -f "$f" ]; then
    awk '/^# pg_claude installcheck: begin/ { skip = 1 }
         !skip { print }
         /^# pg_claude installcheck: end/ { skip = 0 }' "$f" >"$f.pg_claude_installcheck" &&
        cat "$f.pg_claude_installcheck" >"$f"
    rm -f "$f.pg_claude_installcheck"
fi
$sh$ AS regress_claude_remove_block \gset
SELECT :'regress_claude_remove_block' || $sh$
mkdir -p "$(dirname "$f")" || exit 1
[ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ] && echo >>"$f"
{
    echo "# pg_claude installcheck: begin (sql/setup.sql adds this block, sql/teardown.sql removes it)"
    cat
    echo "# pg_claude installcheck: end"
} >>"$f"
$sh$ AS regress_claude_add_profile,
       :'regress_claude_remove_block' || $sh$
# nothing else was in the file: it was ours
if [ -f "$f" ] && ! grep -q '[^[:space:]]' "$f"; then
    rm -f "$f"
    rmdir "$(dirname "$f")" 2>/dev/null
fi
exit 0
$sh$ AS regress_claude_remove_profile \gset
\set ECHO all
