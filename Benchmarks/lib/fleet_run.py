"""One timed `banksync sync` of Benchmarks/fleet: prints its table row, writes where PostgreSQL's time went.

CPU is read from /proc for each process separately, never from the machine's load: the worker's own rusage (wait4),
PostgreSQL's as every process of the cluster the bench started (the postmaster, its live children, and what its
exited children left in its cutime/cstime), the sandbox's from its pid. Round trips are the worker's own count
(`sync_runs.counts.dbRoundTrips`, statements sent and waited for); statements are pg_stat_statements' count.
"""
import json, os, subprocess, sys, threading, time, urllib.request

label, concurrency, banksync = sys.argv[1], sys.argv[2], sys.argv[3]
env = os.environ
top = int(env.get("TOP_STATEMENTS", "15"))
tick = os.sysconf("SC_CLK_TCK")
postmaster = int(env["BENCH_POSTMASTER_PID"])
sandbox = int(env["BENCH_SANDBOX_PID"])


def get(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def sql(text):
    return subprocess.run(["psql", env["DATABASE_URL"], "-AtXc", text], capture_output=True, text=True, check=True).stdout.strip()


def stat(pid):
    """(ppid, own CPU s, reaped children's CPU s) of one process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def cluster_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = stat(int(entry))
            if s and s[0] == postmaster:
                pids.append(int(entry))
    return pids


def postgres_cpu():
    """CPU seconds the cluster spent so far: the postmaster's own and reaped children's, plus live children's."""
    own = stat(postmaster)
    total = own[1] + own[2]
    for pid in cluster_pids():
        s = stat(pid)
        if s:
            total += s[1] + s[2]
    return total


def client_backends():
    count = 0
    for pid in cluster_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                line = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"[local]" in line or b"127.0.0.1(" in line:
            count += 1
    return count


def sandbox_cpu():
    s = stat(sandbox)
    return s[1] if s else 0.0


gc0 = get(env["GOCARDLESS_API_URL"] + "/_sandbox/gocardless/stats")
fp0 = get(env["FLOWPAY_API_URL"] + "/_sandbox/flowpay/stats")
sql("SELECT pg_stat_statements_reset()")
peak_connections = [0]
done = threading.Event()


def sample():
    while not done.wait(0.5):
        peak_connections[0] = max(peak_connections[0], client_backends())


sampler = threading.Thread(target=sample)
sampler.start()
pg_before, sandbox_before = postgres_cpu(), sandbox_cpu()
start = time.monotonic()
with open(f".build/bench-fleet-sync-{os.getpid()}.log", "w+") as output:
    worker = subprocess.Popen([banksync, "sync", "--min-interval", "0", "--concurrency", concurrency],
                              stdout=subprocess.DEVNULL, stderr=output)
    _, status, usage = os.wait4(worker.pid, 0)
    worker.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    time.sleep(0.5)   # the worker's sessions end and the postmaster reaps them (their CPU moves to its cutime)
    pg_cpu, sandbox_used = postgres_cpu() - pg_before, sandbox_cpu() - sandbox_before
    done.set()
    sampler.join()
    if worker.returncode not in (0, 1):
        output.seek(0)
        print(output.read()[-3000:], file=sys.stderr)
        sys.exit(worker.returncode)
gc1 = get(env["GOCARDLESS_API_URL"] + "/_sandbox/gocardless/stats")
fp1 = get(env["FLOWPAY_API_URL"] + "/_sandbox/flowpay/stats")
counts = json.loads(sql("SELECT counts FROM sync_runs ORDER BY id DESC LIMIT 1") or "{}")
customers = max(counts.get("customers", 0), 1)
gc_accounts = int(sql("SELECT count(*) FROM accounts a JOIN customers c ON c.id = a.customer_id "
                      "WHERE c.source = 'gocardless' AND a.active"))
received = fp1["transactions"] - fp0["transactions"]
worker_cpu = usage.ru_utime + usage.ru_stime
backfill = label == "backfill"


def per_unit(cpu):
    """µs per transaction Flowpay received (the backfill), ms per customer (a daily run)."""
    return f"{cpu * 1e6 / max(received, 1):.0f} µs/tx" if backfill else f"{cpu * 1e3 / customers:.2f} ms/customer"


shown = concurrency
if concurrency == "auto" and "concurrency" in counts:
    adapted = counts["concurrency"]
    shown = f"auto {adapted['start']}→{adapted['end']} (peak {adapted['peak']})"
print(f"| {label} | {shown} | {seconds:.1f} | {customers / seconds:.1f} | {received / seconds:,.0f} | {worker_cpu:.1f} | "
      f"{per_unit(worker_cpu)} | {per_unit(pg_cpu)} | {per_unit(sandbox_used)} | {per_unit(worker_cpu + pg_cpu)} | "
      f"{usage.ru_maxrss // 1024} | {peak_connections[0]} | {(gc1['apiCalls'] - gc0['apiCalls']) / customers:.1f} | "
      f"{counts.get('dbRoundTrips', 0) / customers:.1f} | {gc1['rateLimitedCallsToday'] / max(gc_accounts, 1):.2f} | "
      f"{received:,} | {fp1['duplicateTransactions']} | {counts.get('failed', '?')} |", flush=True)

# Where PostgreSQL's time went: statement time (execution; planning is not tracked) and calls, per statement.
rows = sql("SELECT calls, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
           "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
           "AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC")
statements = []
for line in rows.splitlines():
    calls, total, rowcount, query = line.split("|", 3)
    statements.append((int(calls), float(total), int(rowcount), query))
all_time = sum(s[1] for s in statements) or 1.0
all_calls = sum(s[0] for s in statements)
slug = label.split(",")[0].replace(" ", "-")


def table(title, ordered):
    lines = [f"{title}", "", "| total ms | % of time | calls | calls/customer | mean µs | rows/call | statement |",
             "|---|---|---|---|---|---|---|"]
    for calls, total, rowcount, query in ordered:
        text = query if len(query) <= 140 else query[:137] + "..."
        lines.append(f"| {total:,.0f} | {100 * total / all_time:.1f} | {calls:,} | {calls / customers:.2f} | "
                     f"{1000 * total / max(calls, 1):,.0f} | {rowcount / max(calls, 1):.1f} | `{text.replace('|', '¦')}` |")
    return "\n".join(lines)


report = "\n\n".join([
    f"### {label} (concurrency {concurrency}): {customers:,} customers, {received:,} transactions to Flowpay; "
    f"PostgreSQL {pg_cpu:.1f} CPU s; {all_time / 1000:.1f} s inside statements (elapsed, summed over sessions: a COPY "
    f"counts the time it waits for the worker's rows); {all_calls / customers:.1f} "
    f"statements per customer ({counts.get('dbRoundTrips', 0) / customers:.1f} round trips counted by the worker, "
    "prepares included)",
    table(f"By total time (the first {top}):", sorted(statements, key=lambda s: -s[1])[:top]),
    table("By calls (every statement sent at least once per 20 customers): where the round trips go",
          [s for s in sorted(statements, key=lambda s: -s[0]) if s[0] * 20 >= customers]),
])
with open(f".build/bench-fleet-statements-{slug}.txt", "a") as f:
    f.write(report + "\n\n")
