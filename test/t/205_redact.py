#!/usr/bin/env python3
"""claude_redact, claude_redact_batch, claude_redact_local, the redact
enrichment task and claude.redact_before_send.

A corpus of 1,000 generated records (TFNs, ABNs, Medicare and card numbers
with right check digits, written as people write them, and numbers with one
digit changed): every valid number is removed, every changed one kept, by
the local pass and by claude_redact_batch; with redact_before_send no valid
number reaches the emulator (its body log is grepped) while the changed ones
do; claude.usage counts the removals per kind; the cache key is of what is
sent.  The check digits here are computed forwards, independently of the C
validators (src/redact_local.c)."""

import base64
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("redact")
work = tempfile.mkdtemp(prefix="pg_claude_t205_")
body_log = os.path.join(work, "bodies.jsonl")
emu = Emulator(work, tls=False, extra_args=["--body-log", body_log])
pg = Cluster("t205", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 4
""")
rng = random.Random(205)


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if rc == 0 and out else "ERROR: " + err


def wait_for(sql, want, seconds=15):
    """The value of sql once it is want (the audit log is written behind), or the last seen."""
    deadline = time.time() + seconds
    got = val(sql)
    while got != want and time.time() < deadline:
        time.sleep(0.2)
        got = val(sql)
    return got


def lit(s):
    return "'" + s.replace("'", "''") + "'"


# ---- the corpus: check digits computed forwards ----

def tfn():
    w = [1, 4, 3, 7, 5, 8, 6, 9, 10]
    while True:
        d = [rng.randrange(10) for _ in range(8)]
        c = (-sum(a * b for a, b in zip(d, w)) * 10) % 11     # 10 is its own inverse mod 11
        if c < 10:
            return d + [c]


def abn():
    w = [10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
    while True:
        rest = [rng.randrange(10) for _ in range(9)]
        s = sum(a * b for a, b in zip(rest, w[2:]))
        for lead in range(10, 100):
            a, b = divmod(lead, 10)
            if (s + (a - 1) * 10 + b) % 89 == 0:
                return [a, b] + rest


def medicare():
    w = [1, 3, 7, 9, 1, 3, 7, 9]
    d = [rng.randrange(2, 7)] + [rng.randrange(10) for _ in range(7)]
    d.append(sum(a * b for a, b in zip(d, w)) % 10)
    d.append(rng.randrange(1, 10))
    return d


def card():
    n = rng.choice([13, 15, 16, 19])
    d = [rng.choice([3, 4, 5, 6])] + [rng.randrange(10) for _ in range(n - 2)]
    s = 0
    for i, v in enumerate(reversed(d)):          # the check digit will sit to the right
        if i % 2 == 0:
            v = v * 2 - 9 if v * 2 > 9 else v * 2
        s += v
    return d + [(10 - s % 10) % 10]


def valid_as_any(d):
    """The rules, for the changed numbers (the whole run: they are unseparated)."""
    n = len(d)
    ok = False
    if n == 9:
        ok |= sum(a * b for a, b in zip(d, [1, 4, 3, 7, 5, 8, 6, 9, 10])) % 11 == 0
    if n == 11 and d[0] > 0:
        ok |= ((d[0] - 1) * 10 + sum(a * b for a, b in zip(d[1:], [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]))) % 89 == 0
    if n in (10, 11) and 2 <= d[0] <= 6:
        ok |= sum(a * b for a, b in zip(d, [1, 3, 7, 9, 1, 3, 7, 9])) % 10 == d[8]
    if 13 <= n <= 19:
        s = 0
        for i, v in enumerate(reversed(d)):
            if i % 2 == 1:
                v = v * 2 - 9 if v * 2 > 9 else v * 2
            s += v
        ok |= s % 10 == 0
    return ok


def written(d, kind):
    style = rng.randrange(3)
    digits = "".join(map(str, d))
    if style == 0:
        return digits
    sep = " " if style == 1 else "-"
    size = 4 if kind in ("CREDIT_CARD", "MEDICARE") else 3
    return sep.join(digits[i:i + size] for i in range(0, len(digits), size))


def changed(d, kind):
    """d with one digit changed so that no rule holds (the IRN is no check digit)."""
    while True:
        e = list(d)
        i = rng.randrange(9 if kind == "MEDICARE" else len(e))
        e[i] = (e[i] + rng.randrange(1, 10)) % 10
        if not valid_as_any(e):
            return "".join(map(str, e))


GEN = {"TFN": tfn, "ABN": abn, "MEDICARE": medicare, "CREDIT_CARD": card}
records, valid, invalid, kinds_of = [], [], [], []
for r in range(1000):
    kind = rng.choice(sorted(GEN))
    d = GEN[kind]()
    good = written(d, kind)
    bad = changed(d, kind)
    records.append(f"Record {r}: {kind.lower()} {good} was given; reference {bad} is not one.")
    valid.append(good)
    invalid.append(bad)
    kinds_of.append(kind)


def removed_and_kept(outputs, label):
    outputs = [None if o == "NULL" else o for o in outputs]
    missing = [i for i, o in enumerate(outputs) if o is None]
    leaked = [i for i, o in enumerate(outputs) if o is not None and
              (valid[i] in o or valid[i].replace(" ", "").replace("-", "") in o.replace(" ", "").replace("-", "")
               .replace(invalid[i], ""))]
    kept = [i for i, o in enumerate(outputs) if o is not None and invalid[i] in o]
    placeholder = [i for i, o in enumerate(outputs) if o is not None and f"[{kinds_of[i]}]" in o]
    t.ok(not missing and not leaked, f"{label}: every checksum-valid number of 1,000 is removed",
         [(records[i], outputs[i]) for i in (missing + leaked)[:3]])
    t.ok(len(kept) == len(outputs), f"{label}: every number with a digit changed is kept (no false positive)",
         [(records[i], outputs[i]) for i in range(len(outputs)) if i not in set(kept)][:3])
    # an 11-digit Medicare number may also hold as an ABN: an identifier either way
    t.ok(len(placeholder) >= 0.98 * len(outputs), f"{label}: the placeholder names the kind "
         f"({len(placeholder)} of {len(outputs)})")


def bodies():
    if not os.path.exists(body_log):
        return []
    with open(body_log) as f:
        return [json.loads(line) for line in f if line.strip()]


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    q("CREATE TABLE corpus (id int PRIMARY KEY, body text, redacted text)")
    values = ",".join(f"({i}, {lit(b)})" for i, b in enumerate(records))
    rc, out, err = q(f"INSERT INTO corpus (id, body) VALUES {values}")
    t.ok(rc == 0, "the corpus of 1,000 records is loaded", err)

    # ---- the local pass alone: no request ----
    emu.reset()
    rc, out, err = q("SELECT coalesce(claude_redact_local(body), 'NULL') FROM corpus ORDER BY id")
    lines = out.splitlines()
    removed_and_kept(lines if len(lines) == 1000 else [None] * 1000, "claude_redact_local")
    t.ok(emu.stats()["requests"] == 0, "claude_redact_local sends nothing", emu.stats()["requests"])
    t.ok(val("SELECT claude_redact_local('mail jo.bloggs@example.com.au, TFN 123 456 782', ARRAY['tfn'])")
         == "mail jo.bloggs@example.com.au, TFN [TFN]", "kinds choose what the local pass replaces (any case)")
    rc, out, err = q("SELECT claude_redact_local('x', ARRAY['NAME'])")
    t.ok(rc != 0 and "22023" in err and "Use claude_redact" in err,
         "claude_redact_local refuses kinds only the model finds (22023)", err)

    # ---- scalar: local pass, then the model on what is left ----
    emu.reset()
    text = ("Alice Smith (TFN 123 456 782, card 4111 1111 1111 1111) lives at 12 George Street, "
            "Sydney NSW 2000; phone 0412 345 678, mail alice@example.com.")
    got = val(f"SELECT claude_redact({lit(text)})")
    t.ok(got == "[NAME] (TFN [TFN], card [CREDIT_CARD]) lives at [ADDRESS]; phone [PHONE], mail [EMAIL].",
         "claude_redact: names, addresses and phones by the model, check-digit numbers and email locally", got)
    sent = [b["body"] for b in bodies() if b["operation"] in ("InvokeModel", "InvokeModelWithResponseStream")]
    t.ok(len(sent) == 1 and "123 456 782" not in sent[0] and "4111" not in sent[0] and
         "alice@example.com" not in sent[0] and "Alice Smith" in sent[0],
         "what claude_redact sends has the local kinds replaced already", sent[-1:])
    got = val(f"SELECT claude_redact({lit(text)}, ARRAY['TFN', 'NAME'])")
    t.ok(got.startswith("[NAME] (TFN [TFN], card 4111 1111 1111 1111) lives at 12 George Street"),
         "kinds limit the redaction (local and model alike)", got)

    # ---- bad arguments ----
    cases = [
        ("SELECT claude_redact('x', ARRAY['NAME', 'SHOE_SIZE'])", "22023",
         "unknown kind of personal information \"SHOE_SIZE\"", "Kinds are TFN, ABN, MEDICARE, CREDIT_CARD, EMAIL, NAME, PHONE, ADDRESS"),
        ("SELECT claude_redact('x', ARRAY[]::text[])", "22023", "kinds must not be empty", "Pass NULL"),
        ("SELECT claude_redact('x', ARRAY['NAME', NULL])", "22004", "kinds must not contain NULL", "Kinds are"),
        ("SELECT claude_redact('   ')", "22023", "input must not be empty", ""),
        ("SELECT claude_redact(repeat('word ', 4000))", "54000", "input too long for one redact answer",
         "Raise claude.max_tokens"),
        ("SELECT claude_redact(repeat('word ', 400000))", "54000", "", ""),
    ]
    for sql, code, msg, hint in cases:
        rc, out, err = q(sql)
        t.ok(rc != 0 and code in err and msg in err and hint in err, f"{sql[:50]}...: {code} {msg}", err)
    t.ok(val("SELECT coalesce(claude_redact(NULL), 'null')") == "null", "claude_redact(NULL) is NULL")

    # ---- batch over the corpus (the model pass changes no number) ----
    emu.reset()
    rc, out, err = q("SET claude.max_concurrency = 16; SET claude.cache = off;"
                     "SELECT coalesce(redacted, 'ERR ' || error) FROM claude_redact_batch("
                     "ARRAY(SELECT body FROM corpus ORDER BY id)) ORDER BY ord")
    lines = out.splitlines()
    t.ok(rc == 0 and len(lines) == 1000, "claude_redact_batch answers every element", err[-300:])
    removed_and_kept(lines if len(lines) == 1000 else [None] * 1000, "claude_redact_batch")
    logged = [b["body"] for b in bodies() if b["operation"] in ("InvokeModel", "InvokeModelWithResponseStream")]
    leaks = [v for v in valid if any(v in b for b in logged[-1000:])]
    t.ok(not leaks, "claude_redact_batch: no valid number reaches the emulator", leaks[:3])
    rc, out, err = q("SELECT ord, error FROM claude_redact_batch(ARRAY['Bob Jones', NULL, ''])")
    t.ok(out.splitlines() == ["1|", "2|", "3|input must not be empty"],
         "batch: NULL element gives NULL, empty one an error in its row", (out, err))

    # ---- enrichment task ----
    emu.reset()
    q("CREATE TABLE people (id int PRIMARY KEY, body text, clean text)")
    q("INSERT INTO people VALUES (1, 'Emma Brown, ABN 51 824 753 556'), (2, 'Call Noah on 0412 345 678'), (3, NULL)")
    job = val("SELECT claude_enrich('people', 'body', 'clean', 'redact', '{\"kinds\": [\"NAME\", \"ABN\", \"PHONE\"]}')")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    rows = val("SELECT string_agg(coalesce(clean, 'NULL'), ' | ' ORDER BY id) FROM people")
    t.ok(state == "done" and rows == "[NAME], ABN [ABN] | Call [NAME] on [PHONE] | NULL",
         "claude_enrich(..., 'redact') fills the column", (job, state, rows))
    rc, out, err = q("SELECT claude_enrich('people', 'body', 'clean', 'redact', '{\"kinds\": [\"HAT\"]}')")
    t.ok(rc != 0 and "22023" in err and "HAT" in err, "the job's kinds are checked when it is queued", err)

    # ---- redact_before_send: nothing with a valid check digit leaves the database ----
    rc, out, err = q("CREATE ROLE alice LOGIN; GRANT claude_user TO alice")
    rc, out, err = q("SET claude.redact_before_send = on", user="alice")
    t.ok(rc != 0 and "42501" in err, "claude.redact_before_send is for superusers (or GRANT SET)", err)

    emu.reset()
    open(body_log, "w").close()
    rc, out, err = q("SET claude.redact_before_send = on; SET claude.max_concurrency = 16; SET claude.cache = off;"
                     "SELECT count(*) FILTER (WHERE error IS NULL) FROM claude_complete_batch("
                     "ARRAY(SELECT body FROM corpus ORDER BY id))")
    t.ok(rc == 0 and out.splitlines()[-1:] == ["1000"], "claude_complete_batch answers every record", (out, err[-300:]))
    logged = "\n".join(b["body"] for b in bodies())
    leaks = [v for v in valid if v in logged]
    kept = [v for v in invalid if v in logged]
    t.ok(len(bodies()) == 1000 and not leaks, "redact_before_send: no valid number of 1,000 reaches the emulator",
         (len(bodies()), leaks[:3]))
    t.ok(len(kept) == 1000, "redact_before_send: the changed numbers are sent as they are", len(kept))
    wait_for("SELECT count(*) FROM claude.usage WHERE function_name = 'claude_complete_batch' "
             "AND redactions IS NOT NULL", "1000")
    counts = val("SELECT coalesce(sum((redactions->>'TFN')::int), 0) || ',' || coalesce(sum((redactions->>'ABN')::int), 0)"
                 " || ',' || coalesce(sum((redactions->>'MEDICARE')::int), 0) || ',' || "
                 "coalesce(sum((redactions->>'CREDIT_CARD')::int), 0) FROM claude.usage "
                 "WHERE function_name = 'claude_complete_batch' AND ts > now() - interval '5 minutes'"
                 " AND redactions IS NOT NULL")
    want = ",".join(str(kinds_of.count(k)) for k in ("TFN", "ABN", "MEDICARE", "CREDIT_CARD"))
    # an 11-digit Medicare number that also holds as an ABN counts as an ABN
    got_total = sum(int(x) for x in counts.split(",")) if "," in counts else -1
    t.ok(got_total == 1000 and abs(int(counts.split(",")[0]) - kinds_of.count("TFN")) == 0,
         f"claude.usage.redactions counts what was removed per kind (got {counts}, generated {want})", counts)

    # the system prompt is not the user's: never touched
    emu.reset()
    open(body_log, "w").close()
    val("SET claude.redact_before_send = on; SET claude.cache = off;"
        "SELECT claude_complete('TFN 123 456 782 please', system => 'Account 123 456 782 is ours')")
    b = json.loads(bodies()[0]["body"])
    t.ok(b["system"] == "Account 123 456 782 is ours" and "[TFN] please" in json.dumps(b["messages"]),
         "redact_before_send changes the messages, never the system prompt", b)

    # the cache key is of what is sent: two TFNs, one request
    emu.reset()
    rc, out, err = q("SET claude.redact_before_send = on; SET claude.cache = on;"
                     "SELECT claude_complete('cache me: TFN 123 456 782');"
                     "SELECT claude_complete('cache me: TFN 876 543 210');")
    hits = wait_for("SELECT count(*) FROM claude.usage WHERE cache_hit AND function_name = 'claude_complete' "
                    "AND redactions->>'TFN' = '1'", "1")
    t.ok(rc == 0 and emu.stats()["requests"] == 1 and hits == "1",
         "redacted requests that send the same body share a cache entry", (out, err, emu.stats()["requests"], hits))

    # CountTokens counts what InvokeModel would send
    emu.reset()
    open(body_log, "w").close()
    rc, out, err = q("SET claude.redact_before_send = on; SELECT claude_count_tokens('count TFN 123 456 782')")
    sent = [base64.b64decode(json.loads(b["body"])["input"]["invokeModel"]["body"]).decode()
            for b in bodies() if b["operation"] == "CountTokens"]
    t.ok(rc == 0 and len(sent) == 1 and "count TFN [TFN]" in sent[0] and "123 456 782" not in sent[0],
         "redact_before_send: claude_count_tokens sends the redacted body", (out, err, sent))

    # claude.log_prompts keeps what was sent, not the identifiers removed from it
    rc, out, err = q("SET claude.redact_before_send = on; SET claude.log_prompts = on; SET claude.cache = off;"
                     "SELECT claude_complete('logged TFN 123 456 782 here')")
    logged = wait_for("SELECT count(*) FROM claude.usage WHERE prompt LIKE 'logged TFN%'", "1")
    rc2, p, e2 = q("SELECT prompt FROM claude.usage WHERE prompt LIKE 'logged TFN%'")
    t.ok(rc == 0 and logged == "1" and "[TFN]" in p and "123 456 782" not in p,
         "redact_before_send: claude.log_prompts logs the redacted prompt", (out, err, p))
    rc, out, err = q("SELECT (prompt_sha256 = encode(sha256(convert_to(prompt, 'UTF8')), 'hex'))::text || ',' || "
                     "(prompt_sha256 <> encode(sha256(convert_to('logged TFN 123 456 782 here', 'UTF8')), 'hex'))::text "
                     "FROM claude.usage WHERE prompt LIKE 'logged TFN%'")
    t.ok(rc == 0 and out.splitlines()[-1] == "true,true",
         "redact_before_send: prompt_sha256 is of the redacted text sent, never of the raw identifier", (out, err))
    rc, out, err = q("SET claude.log_prompts = on; SET claude.cache = off; SELECT claude_complete('hashed as written');"
                     "SELECT pg_sleep(1); SELECT (prompt_sha256 = encode(sha256(convert_to(prompt, 'UTF8')), 'hex'))::text "
                     "FROM claude.usage WHERE prompt = 'hashed as written'")
    t.ok(rc == 0 and out.splitlines()[-1] == "true", "without it prompt_sha256 is of the prompt as written", (out, err))

    # an attachment cannot be redacted: refused before anything is sent
    emu.reset()
    png = "\\x89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    rc, out, err = q(f"SET claude.redact_before_send = on; SELECT claude_complete('describe', '{png}'::bytea)")
    t.ok(rc != 0 and "0A000" in err and emu.stats()["requests"] == 0,
         "redact_before_send: an attachment is refused (0A000), nothing sent", (out, err))

    # ---- a role's policy reaches the worker: its jobs and asynchronous requests are redacted ----
    q("CREATE ROLE policed LOGIN; GRANT claude_user, claude_job_owner TO policed;"
      "ALTER ROLE policed SET claude.redact_before_send = on;"
      "CREATE TABLE policed_t (id int PRIMARY KEY, body text, out text); ALTER TABLE policed_t OWNER TO policed;"
      "INSERT INTO policed_t VALUES (1, 'job row TFN 123 456 782'), (2, 'job row card 4111 1111 1111 1111')")
    emu.reset()
    open(body_log, "w").close()
    rc, job, err = q("SELECT claude_enrich('policed_t', 'body', 'out', 'complete', '{\"max_tokens\": 50}')", user="policed")
    job = job.splitlines()[-1] if rc == 0 else job
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    rc, req, err2 = q("SELECT claude_complete_async('async TFN 123 456 782')", user="policed")
    req = req.splitlines()[-1] if rc == 0 else req
    got = wait_for(f"SELECT state FROM claude.requests WHERE id = {req or 0}", "done", 60)
    sent = "\n".join(b["body"] for b in bodies())
    t.ok(state == "done" and got == "done" and "job row TFN [TFN]" in sent and "async TFN [TFN]" in sent
         and "123 456 782" not in sent and "4111" not in sent,
         "a role's claude.redact_before_send applies to its jobs and claude_complete_async in the worker",
         (state, got, err, err2, sent[-600:]))
    counts = wait_for("SELECT coalesce(sum((redactions->>'TFN')::int), 0) || ',' || "
                      "coalesce(sum((redactions->>'CREDIT_CARD')::int), 0) FROM claude.usage "
                      f"WHERE role_name = 'policed' AND (job_id = {job} OR function_name = 'claude_complete_async')",
                      "2,1")
    t.ok(counts == "2,1", "and the worker's audit rows count what was removed (2 TFNs, 1 card)", counts)
    # the policy is part of what the job sends: the same job without it would send other bodies
    d = val(f"SELECT definition->'policy' FROM claude.job WHERE id = {job}")
    t.ok(d == '{"redact_before_send": true}', "the job's definition records the owner's policy", d)

    # off (the default): sent as given
    emu.reset()
    open(body_log, "w").close()
    val("SET claude.cache = off; SELECT claude_complete('TFN 123 456 782 as is')")
    t.ok("123 456 782" in bodies()[0]["body"], "without redact_before_send the prompt is sent as written")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
