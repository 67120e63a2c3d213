"""Helper of scripts/bench-analysis: the DuckDB copy, the timed runs on both sides, the checks.

    python bench_analysis.py export SQLITE_DB CSV_DIR
        the tables and columns the analysis reads, from SQLite to CSV with the sqlite3 shell
    python bench_analysis.py load CSV_DIR DUCKDB_FILE
        the CSVs into a DuckDB file (read_csv with explicit types)
    python bench_analysis.py http BASE TOKEN PARAMS_JSON RUNS WARMUPS OUT_JSON [QUERY,...]
        each analysis request (or those named) RUNS times in turn (after WARMUPS), one keep-alive
        connection; counts the answers served from the server's cache (an as_at seen before)
    python bench_analysis.py duckdb DUCKDB_FILE PARAMS_JSON RUNS WARMUPS OUT_JSON
        the equivalent SQL RUNS times each in this process (after WARMUPS)
    python bench_analysis.py compare ASB_JSON DUCKDB_JSON
        MATCH or DIFFER per query, with the first difference

Every subcommand prints one JSON object (or, for compare, one line per query) on stdout.
Timings are wall clock (time.perf_counter), in milliseconds; p50 and p99 by the nearest-rank
method. The HTTP side times from sending the request to the last byte of the body; the DuckDB side
from execute to the last row fetched.
"""

import http.client
import json
import math
import os
import subprocess
import sys
import time

# The tables and columns the analysis reads, with the types DuckDB gives them. SQLite keeps
# received_at as epoch seconds and h3 as a signed 64-bit integer: both stay BIGINT.
TABLES = {
    "incidents": [
        ("id", "BIGINT"),
        ("received_at", "BIGINT"),
        ("category", "VARCHAR"),
        ("place_id", "BIGINT"),
        ("organisation_id", "BIGINT"),
    ],
    "places": [
        ("id", "BIGINT"),
        ("lat", "DOUBLE"),
        ("lon", "DOUBLE"),
        ("h3", "BIGINT"),
        ("borough_id", "BIGINT"),
        ("address", "VARCHAR"),
        ("postcode", "VARCHAR"),
    ],
    "organisations": [
        ("id", "BIGINT"),
        ("ons_code", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("name", "VARCHAR"),
    ],
    "historical_incidents": [
        ("month", "VARCHAR"),
        ("area_code", "VARCHAR"),
        ("category", "VARCHAR"),
        ("h3", "BIGINT"),
        ("lat", "DOUBLE"),
        ("lon", "DOUBLE"),
        ("location", "VARCHAR"),
    ],
}


def out(obj):
    print(json.dumps(obj, sort_keys=True))


def percentile(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    v = sorted(values)
    if not v:
        return None
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def summary(times_ms):
    return {
        "runs": len(times_ms),
        "p50_ms": round(percentile(times_ms, 50), 3),
        "p99_ms": round(percentile(times_ms, 99), 3),
        "min_ms": round(min(times_ms), 3),
        "max_ms": round(max(times_ms), 3),
        "mean_ms": round(sum(times_ms) / len(times_ms), 3),
    }


# ---------------------------------------------------------------------------------------------
# export: SQLite -> CSV with the sqlite3 shell


def cmd_export(db, csv_dir):
    os.makedirs(csv_dir, exist_ok=True)
    lines = [".bail on", ".headers off", ".mode csv"]
    for table, cols in TABLES.items():
        lines.append(".once " + json.dumps(os.path.join(csv_dir, table + ".csv")))
        lines.append("SELECT %s FROM %s;" % (", ".join(c for c, _ in cols), table))
    t0 = time.perf_counter()
    p = subprocess.run(
        ["sqlite3", "-readonly", db], input="\n".join(lines) + "\n", text=True, capture_output=True
    )
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        sys.exit("sqlite3 export failed (exit %d)" % p.returncode)
    sizes = {t: os.path.getsize(os.path.join(csv_dir, t + ".csv")) for t in TABLES}
    out({"seconds": round(secs, 3), "bytes": sizes})


# ---------------------------------------------------------------------------------------------
# load: CSV -> DuckDB


def cmd_load(csv_dir, duck_file):
    import duckdb

    if os.path.exists(duck_file):
        os.remove(duck_file)
    con = duckdb.connect(duck_file)
    rows = {}
    t0 = time.perf_counter()
    for table, cols in TABLES.items():
        path = os.path.join(csv_dir, table + ".csv")
        types = ", ".join("'%s': '%s'" % (c, t) for c, t in cols)
        con.execute(
            "CREATE TABLE %s AS SELECT * FROM read_csv(?, header = false, auto_detect = false, "
            "delim = ',', quote = '\"', escape = '\"', nullstr = '', columns = {%s})" % (table, types),
            [path],
        )
        rows[table] = con.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
    con.execute("CHECKPOINT")
    secs = time.perf_counter() - t0
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.close()
    out(
        {
            "seconds": round(secs, 3),
            "rows": rows,
            "version": duckdb.__version__,
            "threads": int(threads),
            "bytes": os.path.getsize(duck_file),
        }
    )


# ---------------------------------------------------------------------------------------------
# months, as asb_domain::analysis::Month


def month_plus(m, n):
    y, mo = int(m[:4]), int(m[5:7])
    i = y * 12 + mo - 1 + n
    return "%04d-%02d" % (i // 12, i % 12 + 1)


def month_start(m):
    """The first instant of the month, UTC, in epoch seconds (how SQLite keeps received_at)."""
    import calendar

    return calendar.timegm((int(m[:4]), int(m[5:7]), 1, 0, 0, 0, 0, 0, 0))


def months_through(a, b):
    out = []
    while a <= b:
        out.append(a)
        a = month_plus(a, 1)
    return out


CATEGORIES = ["personal", "nuisance", "environmental", "unknown"]


def category_key(stored):
    s = (stored or "").strip().lower()
    return s if s in CATEGORIES else "unknown"


# ---------------------------------------------------------------------------------------------
# The emerging-hotspot rule, as asb_domain::hotspots (for the MATCH check only)


def ln_factorial(n):
    if n < 256:
        return sum(math.log(i) for i in range(2, n + 1))
    x = float(n)
    return (
        x * math.log(x)
        - x
        + 0.5 * math.log(2.0 * math.pi * x)
        + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x**3)
        + 1.0 / (1260.0 * x**5)
    )


def poisson_upper_tail(k, lam):
    if k == 0:
        return 1.0
    if lam != lam or lam <= 0.0:
        return 0.0

    def log_term(i):
        return -lam + i * math.log(lam) - ln_factorial(i)

    if k > lam:
        term, total, i = math.exp(log_term(k)), 0.0, k
        while term > 0.0 and term > total * 1e-17 and i < k + 100000:
            total += term
            i += 1
            term *= lam / i
        return min(total, 1.0)
    term, total, i = math.exp(log_term(k - 1)), 0.0, k - 1
    while True:
        total += term
        if i == 0 or term < total * 1e-17:
            break
        term *= i / lam
        i -= 1
    return min(max(1.0 - total, 0.0), 1.0)


def emerging(rule, observed, baseline):
    observed, baseline = max(observed, 0), max(baseline, 0)
    expected = max(baseline * rule["recent_months"] / rule["baseline_months"], rule["expected_floor"])
    p = poisson_upper_tail(observed, expected)
    return observed >= rule["min_observed"] and p < rule["significance"], p


# ---------------------------------------------------------------------------------------------
# The SQL: crates/asb-store/src/analysis.rs as the store runs it on SQLite, statement for
# statement and bind for bind, for the whole force (no area: the store binds NULL for it, as here).
# SQLite's strftime('%Y-%m', t, 'unixepoch') is DuckDB's strftime(make_timestamp(t * 1000000),
# '%Y-%m') (make_timestamp gives a TIMESTAMP without time zone, so UTC); SQLite's integer division
# is DuckDB's //. Keep these in step with the store when its SQL changes: the MATCH check shows
# whether the answers agree, not whether the work is the same.


def month_of(expr):
    return "strftime(make_timestamp((%s) * 1000000), '%%Y-%%m')" % expr


def h3_parent(expr, n):
    return (
        "(((%(h)s) & ~(CAST(15 AS BIGINT) << 52)) | (CAST($%(n)d AS BIGINT) << 52) "
        "| ((CAST(1 AS BIGINT) << CAST(3 * (15 - $%(n)d) AS INTEGER)) - 1))" % {"h": expr, "n": n}
    )


def day_of(expr):
    """Engine::day: whole days since the epoch (SQLite's integer division; DuckDB's is //)."""
    return "((%s) // 86400)" % expr


def month_of_day(expr):
    """Engine::month_of_day."""
    return month_of("(%s) * 86400" % expr)


TRENDS_SQL = """
SELECT m, area, cat, CAST(SUM(own) AS BIGINT), CAST(SUM(published) AS BIGINT) FROM (
    SELECT {month} AS m, b.ons_code AS area, d.cat, CAST(SUM(d.n) AS BIGINT) AS own, 0 AS published
    FROM (SELECT {day} AS day, p.borough_id AS borough, i.category AS cat, COUNT(*) AS n
          FROM incidents i LEFT JOIN places p ON p.id = i.place_id
          WHERE i.received_at >= $1 AND i.received_at < $2 AND $5 IS NULL
          GROUP BY 1, 2, 3) d
    LEFT JOIN organisations b ON b.id = d.borough
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT h.month, h.area_code, COALESCE(h.category, 'unknown'), 0, COUNT(*)
    FROM historical_incidents h
    WHERE h.month >= $3 AND h.month <= $4 AND $6 IS NULL
    GROUP BY 1, 2, 3
) u GROUP BY m, area, cat
""".format(
    day=day_of("i.received_at"), month=month_of_day("d.day")
)

# SQLite's INDEXED BY incidents_place (a hint for its planner) has no DuckDB counterpart.
HOTSPOTS_SQL = """
WITH u (cell, own, published, recent, baseline) AS (
    SELECT {own_cell}, CAST(SUM(x.own) AS BIGINT), 0, CAST(SUM(x.recent) AS BIGINT),
           CAST(SUM(x.baseline) AS BIGINT)
    FROM (SELECT i.place_id,
                 SUM(CASE WHEN i.received_at >= $14 THEN 1 ELSE 0 END) AS own,
                 SUM(CASE WHEN i.received_at >= $15 THEN 1 ELSE 0 END) AS recent,
                 SUM(CASE WHEN i.received_at >= $16 AND i.received_at < $15 THEN 1 ELSE 0 END) AS baseline
          FROM incidents i
          WHERE i.received_at >= $2 AND i.received_at < $3 AND i.place_id IS NOT NULL
          GROUP BY i.place_id) x
    JOIN places p ON p.id = x.place_id
    WHERE p.h3 IS NOT NULL AND $12 IS NULL
    GROUP BY 1
    UNION ALL
    SELECT {pub_cell}, 0,
           SUM(CASE WHEN h.month >= $6 THEN 1 ELSE 0 END),
           SUM(CASE WHEN h.month >= $7 THEN 1 ELSE 0 END),
           SUM(CASE WHEN h.month >= $8 AND h.month < $7 THEN 1 ELSE 0 END)
    FROM historical_incidents h
    WHERE h.month >= $4 AND h.month <= $5 AND h.h3 IS NOT NULL AND $13 IS NULL
    GROUP BY 1
),
c (cell, own, published, recent, baseline) AS (
    SELECT cell, CAST(SUM(own) AS BIGINT), CAST(SUM(published) AS BIGINT), CAST(SUM(recent) AS BIGINT),
           CAST(SUM(baseline) AS BIGINT)
    FROM u GROUP BY cell
)
SELECT cell, own, published, recent, baseline FROM
    (SELECT * FROM c WHERE own + published > 0 ORDER BY own + published DESC, cell LIMIT $9) busiest
UNION
SELECT cell, own, published, recent, baseline FROM
    (SELECT * FROM c WHERE recent >= $10 ORDER BY recent DESC, cell LIMIT $11) rising
""".format(
    own_cell=h3_parent("p.h3", 1), pub_cell=h3_parent("h.h3", 1)
)

REPEAT_PLACES_SQL = """
SELECT x.place_id, x.n, p.address, p.postcode, p.lat, p.lon, b.name FROM (
    SELECT i.place_id, COUNT(*) AS n FROM incidents i
    WHERE i.received_at >= $1 AND i.received_at < $2 AND i.place_id IS NOT NULL AND $4 IS NULL
    GROUP BY i.place_id ORDER BY n DESC, i.place_id LIMIT $3) x
JOIN places p ON p.id = x.place_id LEFT JOIN organisations b ON b.id = p.borough_id
ORDER BY x.n DESC, x.place_id
"""

REPEAT_POINTS_SQL = """
SELECT h.lat, h.lon, MIN(h.location), MIN(h.area_code), COUNT(*) AS n FROM historical_incidents h
WHERE h.month >= $1 AND h.month <= $2 AND h.lat IS NOT NULL AND h.lon IS NOT NULL AND $4 IS NULL
GROUP BY h.lat, h.lon ORDER BY n DESC, h.lat, h.lon LIMIT $3
"""


def statements(q, P):
    """The statements (SQL, parameters) one request of query q runs, in order."""
    if q == "trends":
        t = P["trends"]
        first = month_plus(t["from"], -12)
        return [(TRENDS_SQL, [month_start(first), month_start(month_plus(t["to"], 1)), first, t["to"], None, None])]
    if q == "hotspots":
        h, rule = P["hotspots"], P["rule"]
        to = h["to"]
        recent = month_plus(to, 1 - rule["recent_months"])
        baseline = month_plus(recent, -rule["baseline_months"])
        first = min(h["from"], baseline)
        return [
            (
                HOTSPOTS_SQL,
                [
                    h["resolution"],
                    month_start(first),
                    month_start(month_plus(to, 1)),
                    first,
                    to,
                    h["from"],
                    recent,
                    baseline,
                    h["limit"],
                    rule["min_observed"],
                    P["emerging_candidates"],
                    None,  # $12, $13: the area (none: the whole force)
                    None,
                    month_start(h["from"]),
                    month_start(recent),
                    month_start(baseline),
                ],
            )
        ]
    if q == "repeat":
        r = P["repeat"]
        return [
            (REPEAT_PLACES_SQL, [month_start(r["from"]), month_start(month_plus(r["to"], 1)), r["limit"], None]),
            (REPEAT_POINTS_SQL, [r["from"], r["to"], r["limit"], None]),
        ]
    raise ValueError(q)


# ---------------------------------------------------------------------------------------------
# What is compared: each side's answer reduced to the same figures


def trends_from_rows(rows, P):
    """The months of asb's Trends (own, published, total, year-earlier total, per category),
    from the statement's rows, computed as Store::trends does."""
    t = P["trends"]
    frm, to = t["from"], t["to"]
    counts = {}
    for m, area, cat, own, published in rows:
        k = (m, area, category_key(cat))
        o, p = counts.get(k, (0, 0))
        counts[k] = (o + own, p + published)
    keys = set()
    for m, a, c in counts:
        if frm <= m <= to:
            keys.add((m, a, c))
        elif frm <= month_plus(m, 12) <= to:
            keys.add((month_plus(m, 12), a, c))
    months = {m: {"own": 0, "published": 0, "total": 0, "previous": 0, "categories": {}} for m in months_through(frm, to)}
    for m, a, c in sorted(keys, key=lambda k: (k[0], k[1] or "", k[2])):
        own, published = counts.get((m, a, c), (0, 0))
        prev = sum(counts.get((month_plus(m, -12), a, c), (0, 0)))
        s = months[m]
        s["own"] += own
        s["published"] += published
        s["total"] += own + published
        s["previous"] += prev
        cc = s["categories"].setdefault(c, [0, 0])
        cc[0] += own + published
        cc[1] += prev
    return {
        "months": [[m, v["own"], v["published"], v["total"], v["previous"]] for m, v in sorted(months.items())],
        "categories": {
            m: {c: v for c, v in sorted(s["categories"].items()) if v != [0, 0]} for m, s in sorted(months.items())
        },
        "rows": len(keys),
    }


def trends_from_json(j):
    return {
        "months": [[m["month"], m["own"], m["published"], m["total"], m["previous"]] for m in j["months"]],
        "categories": {
            m["month"]: {
                c: [v["total"], v["previous"]] for c, v in sorted(m["categories"].items()) if [v["total"], v["previous"]] != [0, 0]
            }
            for m in j["months"]
        },
        "rows": len(j["rows"]),
    }


def hotspots_from_rows(rows, P):
    rule, limit = P["rule"], P["hotspots"]["limit"]
    allc = sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0]))
    cells = [["%x" % (c & 0xFFFFFFFFFFFFFFFF), o, p, o + p] for c, o, p, _, _ in allc if o + p > 0][:limit]
    em = []
    for c, o, p, recent, base in allc:
        flag, pv = emerging(rule, recent, base)
        if flag:
            em.append(["%x" % (c & 0xFFFFFFFFFFFFFFFF), recent, base])
    return {"cells": cells, "emerging": sorted(em)}


def hotspots_from_json(j):
    return {
        "cells": [[c["cell"], c["own"], c["published"], c["count"]] for c in j["cells"]],
        "emerging": sorted([c["cell"], c["emerging"]["observed"], c["emerging"]["baseline"]] for c in j["emerging"]),
    }


def repeat_from_rows(results):
    places, points = results
    return {
        "places": [[r[0], r[1]] for r in places],
        "points": [[round(r[0], 6), round(r[1], 6), r[4]] for r in points],
    }


def repeat_from_json(j):
    return {
        "places": [[p["place_id"], p["count"]] for p in j["places"]],
        "points": [[round(p["lat"], 6), round(p["lon"], 6), p["count"]] for p in j["points"]],
    }


def headline(q, n):
    """A line of the answer's top figures, for the report."""
    if q == "trends":
        last = n["months"][-1] if n["months"] else None
        tot = sum(m[3] for m in n["months"])
        prev = sum(m[4] for m in n["months"])
        s = "%d reports in %d months (year before %d); %d (month, area, category) rows" % (
            tot,
            len(n["months"]),
            prev,
            n["rows"],
        )
        if last:
            s += "; %s: %d" % (last[0], last[3])
        return s
    if q == "hotspots":
        top = ", ".join("%s %d" % (c[0], c[3]) for c in n["cells"][:3])
        return "%d cells, top %s; %d emerging" % (len(n["cells"]), top or "none", len(n["emerging"]))
    if q == "repeat":
        top = ", ".join("place %d: %d" % (p[0], p[1]) for p in n["places"][:3])
        return "%d places (%s); %d published points" % (len(n["places"]), top or "none", len(n["points"]))
    return ""


QUERIES = ["trends", "hotspots", "repeat"]


def load_params(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# ---------------------------------------------------------------------------------------------
# http: asb's analysis API


def cmd_http(base, token, params_path, runs, warmups, out_path, only=""):
    from urllib.parse import urlsplit

    P = load_params(params_path)
    runs, warmups = int(runs), int(warmups)
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
    headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
    result = {}
    for q in [q for q in QUERIES if not only or q in only.split(",")]:
        path = P["paths"][q]
        times, body, status, first = [], b"", 0, None
        # Each answer carries the moment it was computed (as_at): an answer with an as_at seen
        # before was served from the server's cache of slow results, not computed.
        seen, kept = set(), 0
        for i in range(warmups + runs):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            dt = (time.perf_counter() - t0) * 1000.0
            status = resp.status
            if status != 200:
                sys.stderr.write("GET %s: HTTP %d\n%s\n" % (path, status, body[:2000].decode("utf-8", "replace")))
                sys.exit(1)
            if first is None:
                first = dt
            as_at = json.loads(body).get("as_at")
            if i >= warmups:
                times.append(dt)
                kept += as_at in seen
            seen.add(as_at)
        j = json.loads(body)
        norm = {"trends": trends_from_json, "hotspots": hotspots_from_json, "repeat": repeat_from_json}[q](j)
        result[q] = dict(summary(times), first_ms=round(first, 3), kept=kept, path=path, bytes=len(body), answer=norm, headline=headline(q, norm))
    conn.close()
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    out({q: {k: v for k, v in r.items() if k != "answer"} for q, r in result.items()})


# ---------------------------------------------------------------------------------------------
# duckdb: the equivalent SQL


def cmd_duckdb(duck_file, params_path, runs, warmups, out_path):
    import duckdb

    P = load_params(params_path)
    runs, warmups = int(runs), int(warmups)
    con = duckdb.connect(duck_file, read_only=True)
    result = {}
    for q in QUERIES:
        stmts = statements(q, P)
        times, results, first = [], None, None
        for i in range(warmups + runs):
            t0 = time.perf_counter()
            results = [con.execute(sql, args).fetchall() for sql, args in stmts]
            dt = (time.perf_counter() - t0) * 1000.0
            if first is None:
                first = dt
            if i >= warmups:
                times.append(dt)
        if q == "trends":
            norm = trends_from_rows(results[0], P)
        elif q == "hotspots":
            norm = hotspots_from_rows(results[0], P)
        else:
            norm = repeat_from_rows(results)
        result[q] = dict(summary(times), first_ms=round(first, 3), statements=len(stmts), answer=norm, headline=headline(q, norm))
    con.close()
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    out({q: {k: v for k, v in r.items() if k != "answer"} for q, r in result.items()})


# ---------------------------------------------------------------------------------------------
# compare


def first_difference(a, b, where=""):
    if type(a) != type(b):
        return "%s: %r vs %r" % (where or "answer", a, b)
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s: only on the %s side" % (where, k, "asb" if k in a else "duckdb")
            d = first_difference(a[k], b[k], "%s.%s" % (where, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (where, i))
            if d:
                return d
        if len(a) != len(b):
            return "%s: %d items vs %d" % (where, len(a), len(b))
        return None
    return None if a == b else "%s: asb %r, duckdb %r" % (where, a, b)


def cmd_compare(asb_path, duck_path):
    a, d = load_params(asb_path), load_params(duck_path)
    for q in QUERIES:
        diff = first_difference(a[q]["answer"], d[q]["answer"], q)
        print("%s %s%s" % (q, "MATCH" if diff is None else "DIFFER", "" if diff is None else " " + diff))


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    cmd, rest = args[0], args[1:]
    if cmd == "export" and len(rest) == 2:
        cmd_export(*rest)
    elif cmd == "load" and len(rest) == 2:
        cmd_load(*rest)
    elif cmd == "http" and len(rest) in (6, 7):
        cmd_http(*rest)
    elif cmd == "duckdb" and len(rest) == 5:
        cmd_duckdb(*rest)
    elif cmd == "compare" and len(rest) == 2:
        cmd_compare(*rest)
    else:
        sys.exit(__doc__)
