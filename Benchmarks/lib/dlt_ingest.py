"""One dlt load of the ingest bench's rows, for `banksync-bench ingest` with BENCH_DLT=1 (not run by hand).

Reads the JSON Lines file the bench wrote (the same rows BankSync ingests, one per line, account by account,
`--per-account` lines each) as a dlt resource and loads it with write_disposition="merge" into the database of
the libpq conninfo in BENCH_DLT_DATABASE_URL. The connection goes to dlt through its own environment
configuration (DESTINATION__POSTGRES__CREDENTIALS__*), never through a command line.

dlt's primary key is BankSync's natural dedup key: the account plus the nine fields of `DedupKey.fingerprint`
(status, booking date, value date, amount in minor units, currency, counterparty IBAN, counterparty name,
remittance, bank transaction code) plus the occurrence ordinal among identical fingerprints, which is what the
stored key `SHA-256(fingerprint || ordinal)` stands for.

Timed: `pipeline.run` alone (extract from the file, normalize, load), as a user of dlt runs it; not the
interpreter's start or `import dlt`. Prints one line on stdout:
    dlt-result {"rows": …, "seconds": …, "peak_rss_kb": …}
peak_rss_kb is the larger of this process's and its children's ru_maxrss. Exits non-zero with a message on
stderr when the load fails.
"""
import argparse
import json
import os
import resource
import shutil
import sys
import time

PRIMARY_KEY = ("account_id", "status", "booking_date", "value_date", "amount_minor", "currency",
               "counterparty_iban", "counterparty_name", "remittance", "bank_tx_code", "occurrence")
BATCH = 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-file", required=True)
    parser.add_argument("--per-account", type=int, required=True)
    parser.add_argument("--skip-every-tenth", action="store_true",
                        help="leave out the rows whose index in their account is a multiple of 10 (the 90%% preload)")
    parser.add_argument("--pipelines-dir", required=True)
    parser.add_argument("--fresh", action="store_true", help="delete --pipelines-dir first (a new dataset)")
    args = parser.parse_args()

    configure_dlt_from_environment()
    if args.fresh:
        shutil.rmtree(args.pipelines_dir, ignore_errors=True)
    import dlt  # after the environment is set: dlt reads it when imported and when the pipeline is made

    offered = 0

    @dlt.resource(name="transactions", write_disposition="merge", primary_key=PRIMARY_KEY,
                  columns={"account_id": {"data_type": "bigint"}, "amount_minor": {"data_type": "bigint"},
                           "occurrence": {"data_type": "bigint"},
                           "booking_date": {"data_type": "date"}, "value_date": {"data_type": "date"},
                           "source_tx_id": {"data_type": "text", "nullable": True},
                           "raw": {"data_type": "json"}})
    def transactions():
        nonlocal offered
        batch = []
        with open(args.rows_file, "rb") as rows:
            for line_number, line in enumerate(rows):
                if args.skip_every_tenth and (line_number % args.per_account) % 10 == 0:
                    continue
                batch.append(json.loads(line))
                if len(batch) == BATCH:
                    offered += len(batch)
                    yield batch
                    batch = []
        if batch:
            offered += len(batch)
            yield batch

    pipeline = dlt.pipeline(pipeline_name="banksync_bench", destination="postgres", dataset_name="bench",
                            pipelines_dir=args.pipelines_dir)
    start = time.monotonic()
    info = pipeline.run(transactions())
    info.raise_on_failed_jobs()
    seconds = time.monotonic() - start

    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print("dlt-result " + json.dumps({"rows": offered, "seconds": seconds, "peak_rss_kb": peak}), flush=True)


def configure_dlt_from_environment():
    """BENCH_DLT_DATABASE_URL (a libpq conninfo or URL) → dlt's credential settings, in this process only."""
    conninfo = os.environ.get("BENCH_DLT_DATABASE_URL")
    if not conninfo:
        sys.exit("dlt_ingest: BENCH_DLT_DATABASE_URL is not set")
    from urllib.parse import quote, urlencode
    from psycopg2.extensions import parse_dsn
    parts = parse_dsn(conninfo)
    host = parts.pop("host", "localhost")
    user = quote(parts.pop("user", "postgres"), safe="")
    # dlt wants a password even where the server trusts the connection (the bench's throwaway server does).
    password = quote(parts.pop("password", "unused"), safe="")
    database = quote(parts.pop("dbname", user), safe="")
    port = parts.pop("port", "5432")
    if host.startswith("/"):
        parts["host"] = host  # a socket folder: libpq takes it from the query, dlt needs some host name
        host = "localhost"
    query = ("?" + urlencode(parts)) if parts else ""
    os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = f"postgresql://{user}:{password}@{host}:{port}/{database}{query}"
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # the bench shows this line and goes on with BankSync's figures
        print(f"dlt_ingest: the dlt load failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
