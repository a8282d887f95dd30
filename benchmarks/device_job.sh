#!/usr/bin/env bash
# One long GPU job across several device commands of <= 10 minutes each, on one warm machine.
#
#   benchmarks/device_job.sh start CMD...   copy the repo to /tmp/job/repo and start CMD there in
#                                           its own process session (it outlives the command)
#   benchmarks/device_job.sh watch SECONDS  wait up to SECONDS, returning early once the job ends
#
# Both end with a snapshot: a status line per Tune trial (updates, minutes, last evaluations) on
# stdout, and $OUT/job.tar.gz holding the job's log, every trial's progress.csv / result.json /
# params.json (every Tune storage folder /tmp/job/runs*, so a second suite on the same machine
# can use --storage /tmp/job/runs2) and the job's --out folder (/tmp/job/out). CMD should write
# its results there.
# Files CMD leaves in /tmp/job/carry (a checkpoint for the next session) are copied into $OUT
# one by one once the job has ended (at most 7 files of < 16 MiB each come back beside the tar);
# more than 7 come back as one $OUT/carry.tar (< 16 MiB: e.g. 8 snapshots at the quickstart's sizes).
set -u
JOB=/tmp/job

snapshot() {
    echo "== $(date -u +%H:%M:%S) job $(job_state)"
    tail -n 5 "$JOB/job.log" 2>/dev/null | cut -c1-300
    for log in "$JOB"/out/*.log; do  # runs that log on their own (authors_vs_ours.sh)
        [ -f "$log" ] && echo "$(basename "$log"): $(tail -n 1 "$log" | cut -c1-200)"
    done
    python3 - "$JOB" <<'PY'
import csv, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("runs*/*/*/progress.csv")):
    rows = list(csv.DictReader(path.open()))
    if not rows:
        continue
    key = "evaluation/ogbench/success/overall"
    evals = [(int(float(r["num_updates_lifetime"])), float(r[key])) for r in rows if r.get(key)]
    last = rows[-1]
    print(f"{path.parent.name[:40]}: {int(float(last['num_updates_lifetime'])):,} updates, "
          f"{float(last['time_total_s']) / 60:.1f} min, evals {evals[-4:]}")
PY
    if [ -n "${OUT:-}" ]; then
        (cd "$JOB" && tar czf "$OUT/job.tar.gz" job.log out \
            $(find runs* -name progress.csv -o -name result.json -o -name params.json 2>/dev/null) \
            2>/dev/null)
        # a checkpoint to carry to the next session (authors_to_1m.sh), whole once the job ended
        if [ -d "$JOB/carry" ] && [ "$(job_state)" != running ]; then
            if [ "$(ls "$JOB/carry" | wc -l)" -le 7 ]; then cp "$JOB"/carry/* "$OUT"/
            else tar cf "$OUT/carry.tar" -C "$JOB/carry" . && ls -l "$OUT/carry.tar"; fi
        fi
    fi
}

job_state() {
    if [ -f "$JOB/pid" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; then echo running; else
        echo "ended (rc $(cat "$JOB/rc" 2>/dev/null || echo '?'))"; fi
}

case "${1:-}" in
start)
    shift
    rm -rf "$JOB/carry"  # only what this job saves goes back
    mkdir -p "$JOB/out" "$JOB/runs"
    rm -rf "$JOB/repo" && cp -r "$PWD" "$JOB/repo"
    cd "$JOB/repo" || exit 1
    setsid bash -c "$* > $JOB/job.log 2>&1; echo \$? > $JOB/rc" < /dev/null > /dev/null 2>&1 &
    echo $! > "$JOB/pid"
    sleep 20
    snapshot
    ;;
watch)
    deadline=$((SECONDS + ${2:-60}))
    while [ $SECONDS -lt $deadline ] && [ "$(job_state)" = running ]; do sleep 5; done
    snapshot
    ;;
*)
    echo "usage: $0 start CMD... | watch SECONDS" >&2
    exit 2
    ;;
esac
