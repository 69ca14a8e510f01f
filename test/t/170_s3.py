#!/usr/bin/env python3
"""S3 through the one transport and signer (src/s3.c), the groundwork of
batch mode, against the emulator's S3 (which verifies S3 SigV4 itself):
claude.s3_bucket_region reads HeadBucket's region (also of a bucket in
another region than claude.region, from S3's 400); claude.s3_put and
claude.s3_get round-trip bytes, the ETag is the body's MD5; keys that need
encoding (space, '+', '~', '/', '%', unicode) round-trip and are listed as
written; claude.s3_list follows continuation tokens over 1,000 keys (two
ListObjectsV2 requests); NoSuchKey and NoSuchBucket are 42704; a request the
emulator cannot verify (its secret for our key changed) is refused, 42501,
and nothing is stored; a bucket in us-east-1 under claude.residency 'au' is
refused (42R01) after HeadBucket with zero PutObject requests, and written
under 'none'; 503 SlowDown is retried by the transport and, when it does not
stop, raised after claude.max_retries; bad s3:// URIs are 22023; the
functions and claude.s3_endpoint are for superusers."""

import hashlib
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import EMU_AKID, EMU_SECRET, Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("s3")
work = tempfile.mkdtemp(prefix="pg_claude_t170_")
emu = Emulator(work, tls=False)
pg = Cluster("t170", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.s3_endpoint = '{emu.http_url}'
claude.max_retries = 3
claude.cache = off
""")
SYDNEY = "ap-southeast-2"
KEYS = ["plain.txt", "with space.txt", "plus+sign", "tilde~x", "a/b//c/deep.json",
        "unicode-\u00e9\u65e5\u672c.txt", "percent%41", "amp&lt<gt>", "q?mark=1&x"]


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def verbose(sql, user="postgres"):
    """(rc, out, err) with the SQLSTATE in err."""
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def s3_stats():
    return emu.stats()["s3"]


def ops(name):
    return s3_stats()["by_operation"].get(name, 0)


def bucket(name):
    for b in emu.control("s3-buckets")["buckets"]:
        if b["name"] == name:
            return b
    return None


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")
    emu.control("s3-buckets", {"name": "syd-batch", "region": SYDNEY})
    emu.control("s3-buckets", {"name": "us-batch", "region": "us-east-1"})

    # HeadBucket
    t.ok(pg.query("SELECT claude.s3_bucket_region('s3://syd-batch/')") == SYDNEY,
         "claude.s3_bucket_region answers the bucket's region")
    t.ok(pg.query("SELECT claude.s3_bucket_region('s3://us-batch')") == "us-east-1",
         "a bucket outside claude.region: its region from S3's 400 (x-amz-bucket-region)")

    # put / get round trip
    body = bytes(range(256)) * 3
    etag = pg.query(f"SELECT claude.s3_put('s3://syd-batch/in/blob.bin', '\\x{body.hex()}'::bytea)")
    t.ok(etag == '"%s"' % hashlib.md5(body).hexdigest(), "s3_put answers the ETag (the MD5)", etag)
    got = pg.query("SELECT encode(claude.s3_get('s3://syd-batch/in/blob.bin'), 'hex')")
    t.ok(got == body.hex(), "s3_get returns the very bytes, NULs included")
    t.ok(s3_stats()["signature_failures"] == 0, "the emulator verified every signature",
         s3_stats())

    # keys that need encoding
    bad = []
    for key in KEYS:
        pg.query(f"SELECT claude.s3_put({lit('s3://syd-batch/enc/' + key)}, convert_to({lit(key)}, 'UTF8'))")
        back = pg.query(f"SELECT convert_from(claude.s3_get({lit('s3://syd-batch/enc/' + key)}), 'UTF8')")
        if back != key:
            bad.append((key, back))
    t.ok(not bad and s3_stats()["signature_failures"] == 0,
         "keys with space, '+', '~', '/', '%', '&', '?', unicode round-trip", bad)
    listed = pg.query("SELECT string_agg(k, E'\\n' ORDER BY k COLLATE \"C\") FROM claude.s3_list('s3://syd-batch/enc/') k")
    want = sorted("enc/" + k for k in KEYS)
    t.ok(listed.split("\n") == want, "s3_list lists them as written", listed)

    # paging over 1,000 keys
    pg.query("SELECT count(claude.s3_put('s3://syd-batch/page/' || lpad(i::text, 5, '0') || ' x+y', '\\x00'))"
             " FROM generate_series(1, 1050) i")
    before = ops("ListObjectsV2")
    keys = pg.query("SELECT string_agg(k, ',') FROM claude.s3_list('s3://syd-batch/page/') k").split(",")
    t.ok(keys == ["page/%05d x+y" % i for i in range(1, 1051)],
         "s3_list follows the continuation token: 1,050 keys in order", len(keys))
    t.ok(ops("ListObjectsV2") - before == 2, "two ListObjectsV2 pages",
         ops("ListObjectsV2") - before)
    t.ok(pg.query("SELECT count(*) FROM claude.s3_list('s3://syd-batch/nothing-here/')") == "0",
         "an empty prefix lists nothing")

    # S3's errors
    rc, _, err = verbose("SELECT claude.s3_get('s3://syd-batch/missing')")
    t.ok(rc != 0 and "42704" in err and "NoSuchKey" in err, "NoSuchKey is 42704", err)
    rc, _, err = verbose("SELECT claude.s3_get('s3://no-such-bucket/k')")
    t.ok(rc != 0 and "42704" in err, "a missing bucket is 42704", err)

    # a signature the emulator does not accept
    emu.control("credentials", {"access_key_id": EMU_AKID, "secret_access_key": "rotated-elsewhere"})
    failures = s3_stats()["signature_failures"]
    rc, _, err = verbose("SELECT claude.s3_put('s3://syd-batch/forged', '\\x01')")
    emu.control("credentials", {"access_key_id": EMU_AKID, "secret_access_key": EMU_SECRET})
    t.ok(rc != 0 and "42501" in err and s3_stats()["signature_failures"] > failures,
         "a wrong signature is refused by the emulator (42501)", err)
    t.ok("enc/forged" not in bucket("syd-batch")["keys"] and
         pg.psql("SELECT claude.s3_get('s3://syd-batch/forged')")[0] != 0,
         "and nothing was stored")

    # residency: judged before anything is written
    puts = ops("PutObject")
    rc, _, err = verbose("SELECT claude.s3_put('s3://us-batch/in/part-1.jsonl', '\\x7b7d')")
    t.ok(rc != 0 and "42R01" in err and "nothing was written" in err
         and 'bucket "us-batch" stores data in the United States, outside claude.residency "au"' in err
         and "bucket's region us-east-1 is in the United States, not in Australia" in err,
         "a bucket in us-east-1 is refused under claude.residency 'au' (42R01)", err)
    t.ok(ops("PutObject") == puts and bucket("us-batch")["objects"] == 0,
         "with zero PutObject requests and nothing in the bucket", s3_stats())
    t.ok(pg.query("SET claude.residency = 'none'; "
                  "SELECT claude.s3_put('s3://us-batch/in/part-1.jsonl', '\\x7b7d') IS NOT NULL")
         .endswith("t") and bucket("us-batch")["objects"] == 1,
         "under 'none' it is written")
    rc, _, err = verbose("SET claude.residency = 'region'; SELECT claude.s3_put('s3://us-batch/x', '\\x00')")
    t.ok(rc != 0 and "42R01" in err, "'region' allows only claude.region's buckets", err)

    # retries
    puts = ops("PutObject")
    emu.fault(fault="error", status=503, error_type="SlowDown", count=2, operations=["PutObject"])
    ok = pg.psql("SELECT claude.s3_put('s3://syd-batch/after-slowdown', '\\x00')")[0] == 0
    t.ok(ok and ops("PutObject") - puts == 3, "503 SlowDown is retried (three attempts)",
         ops("PutObject") - puts)
    puts = ops("PutObject")
    emu.fault(fault="error", status=503, error_type="SlowDown", count=50, operations=["PutObject"])
    rc, _, err = verbose("SELECT claude.s3_put('s3://syd-batch/never', '\\x00')")
    t.ok(rc != 0 and "SlowDown" in err and ops("PutObject") - puts == 4,
         "SlowDown that does not stop: raised after claude.max_retries (1 + 3 attempts)",
         (err, ops("PutObject") - puts))
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": SYDNEY})

    # bad URIs
    bad = []
    for uri in ("http://syd-batch/x", "s3://", "s3://Upper/x", "s3://ab/x", "s3://a..b/x",
                "s3://-ab/x", "s3://" + "a" * 64 + "/x", "s3://syd-batch/" + "k" * 1025,
                "s3://syd_batch/x"):
        rc, _, err = verbose(f"SELECT claude.s3_bucket_region({lit(uri)})")
        if rc == 0 or "22023" not in err or "HINT" not in err:
            bad.append((uri, err))
    t.ok(not bad, "bad s3:// URIs are 22023 with a hint", bad)
    rc, _, err = verbose("SELECT claude.s3_put('s3://syd-batch/', '\\x00')")
    t.ok(rc != 0 and "22023" in err, "PutObject without a key is 22023", err)

    # superuser only
    pg.query("CREATE ROLE alice LOGIN")
    denied = []
    for sql in ("SELECT claude.s3_put('s3://syd-batch/a', '\\x00')",
                "SELECT claude.s3_get('s3://syd-batch/a')",
                "SELECT * FROM claude.s3_list('s3://syd-batch/')",
                "SELECT claude.s3_bucket_region('s3://syd-batch')",
                # the library loaded first, or SET only makes a placeholder
                "SELECT claude.dropped_records(); "
                f"SET claude.s3_endpoint = {lit(emu.http_url)}"):
        rc, _, err = verbose(sql, user="alice")
        if rc == 0 or "42501" not in err:
            denied.append((sql, err))
    t.ok(not denied, "the functions and claude.s3_endpoint are for superusers", denied)
    t.ok(pg.query("SELECT count(*) FROM pg_description d JOIN pg_proc p ON p.oid = d.objoid "
                  "WHERE p.proname LIKE 's3\\_%'") == "4", "each function has a COMMENT")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
