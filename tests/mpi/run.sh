#!/usr/bin/env bash
# Distributed tests under a real MPI launcher (docs/distributed.md), run by .ci/run after the
# README's tests. Needs OpenMPI (mpirun) and a `hinet` and `mpi_equivalence` built with the
# `mpi` feature:
#   cargo build --release --features mpi --bin hinet
#   cargo build --release -p hinet-dist --features mpi --example mpi_equivalence
#   tests/mpi/run.sh
# Each check prints one line; the first failure stops the script with status 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
HINET="$PWD/target/release/hinet"
EQUIV="$PWD/target/release/examples/mpi_equivalence"
MPIRUN=(mpirun --oversubscribe)
# Root in CI containers; OpenMPI refuses root without this.
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# 1. The step over MPI equals one process (sharded and replicated tables, checkpoint, metrics),
#    on 2 ranks and on 3 (uneven shards of the batches and of the tables).
for n in 2 3; do
    "${MPIRUN[@]}" -np "$n" "$EQUIV" > "$WORK/eq$n.log" 2>&1 || { cat "$WORK/eq$n.log"; fail "mpi_equivalence on $n ranks"; }
    grep -q "ranks agree with one process" "$WORK/eq$n.log" || fail "mpi_equivalence on $n ranks printed no verdict"
    ok "mpi_equivalence on $n ranks"
done

# 2. `mpirun -np 2 hinet train` learns, writes one checkpoint in the one-process format, and
#    prints the metrics once.
cd "$WORK"
"${MPIRUN[@]}" -np 2 "$HINET" train --rows 40000 --epochs 2 --batch-size 256 --embeddings sharded \
    --checkpoint two.ckpt --report two.json > two.out 2> two.err || { cat two.err; fail "train on 2 ranks"; }
[ "$(grep -c 'mean AUC over scenarios and tasks' two.out)" = 1 ] || { cat two.out; fail "the metrics were not printed once"; }
auc=$(grep 'mean AUC over scenarios and tasks' two.out | awk '{print $NF}')
awk -v a="$auc" 'BEGIN { exit !(a > 0.52) }' || fail "2-rank training did not learn (mean AUC $auc)"
grep -q '"ranks": 2' two.json || fail "the report does not say 2 ranks"
ok "train on 2 ranks (mean test AUC $auc)"

# 3. That checkpoint loads in one process and gives the same test AUC.
"$HINET" eval two.ckpt --rows 40000 > eval.out 2> eval.err || { cat eval.err; fail "eval of the 2-rank checkpoint"; }
auc1=$(grep 'mean AUC over scenarios and tasks' eval.out | awk '{print $NF}')
[ "$auc1" = "$auc" ] || fail "one process evaluates the 2-rank checkpoint to $auc1, the ranks to $auc"
ok "the 2-rank checkpoint evaluates in one process to the same AUC"

# 4. Resumed on 3 ranks (the tables reshard) and on 1 process.
"${MPIRUN[@]}" -np 3 "$HINET" train --rows 40000 --epochs 3 --batch-size 256 --embeddings sharded \
    --resume two.ckpt --checkpoint three.ckpt > three.out 2> three.err || { cat three.err; fail "resume on 3 ranks"; }
grep -q 'epoch 3/3' three.err || { cat three.err; fail "resume on 3 ranks did not train epoch 3"; }
"$HINET" train --rows 40000 --epochs 3 --batch-size 512 --resume two.ckpt > one.out 2> one.err || { cat one.err; fail "resume in one process"; }
ok "a 2-rank checkpoint resumes on 3 ranks and in one process"

# 5. The test metrics are the best epoch's (read back from the checkpoint when a later epoch
#    was worse; a high learning rate overfits after a few epochs): one process evaluates the
#    checkpoint to the AUC the ranks printed.
"${MPIRUN[@]}" -np 2 "$HINET" train --rows 20000 --epochs 5 --lr 0.03 --batch-size 128 --checkpoint best.ckpt \
    > best.out 2> best.err || { cat best.err; fail "train with a high learning rate on 2 ranks"; }
auc=$(grep 'mean AUC over scenarios and tasks' best.out | awk '{print $NF}')
"$HINET" eval best.ckpt --rows 20000 > best-eval.out 2>&1 || { cat best-eval.out; fail "eval of best.ckpt"; }
auc1=$(grep 'mean AUC over scenarios and tasks' best-eval.out | awk '{print $NF}')
[ "$auc1" = "$auc" ] || fail "the ranks printed test AUC $auc, the checkpoint of the best epoch evaluates to $auc1"
ok "the test metrics are the best epoch's ($(grep -o 'best epoch ([0-9]*)' best.err || echo 'the last epoch was the best'); AUC $auc)"

# 6. Streaming from CSV files: each rank keeps its share of the rows as they are read; the test
#    rows are the same as in memory, and it learns.
"$HINET" gen-data --rows 30000 --out gen > gen.out 2> gen.err || { cat gen.err; fail "gen-data"; }
schema=$(tail -1 gen.out)
for mode in stream in-memory; do
    "${MPIRUN[@]}" -np 2 "$HINET" train --schema "$schema" --"$mode" --epochs 2 --batch-size 256 \
        > "$mode.out" 2> "$mode.err" || { cat "$mode.err"; fail "train --$mode on 2 ranks"; }
done
grep -q "streaming the files each epoch" stream.err || { cat stream.err; fail "--stream did not stream"; }
rows_s=$(grep -o 'Test metrics ([0-9]* rows' stream.out)
rows_m=$(grep -o 'Test metrics ([0-9]* rows' in-memory.out)
[ -n "$rows_s" ] && [ "$rows_s" = "$rows_m" ] || fail "streamed test rows ($rows_s) differ from in memory ($rows_m)"
# 30,000 rows are few for the test's per-cell mean; the validation AUC of the last epoch says
# whether it learned (about 0.60 here, 0.5 for a model that learned nothing).
auc_s=$(grep -o 'epoch 2/2: .*valid mean AUC [0-9.]*' stream.err | awk '{print $NF}')
awk -v a="$auc_s" 'BEGIN { exit !(a > 0.56) }' || fail "streamed 2-rank training did not learn (valid mean AUC $auc_s)"
ok "streamed training on 2 ranks (${rows_s#Test metrics (}, valid mean AUC $auc_s)"

# 7. Data in several files: each rank reads only its own (two files each, balanced by size),
#    in memory and streamed. The split is the one-process split (same rows per part), and the
#    2-rank checkpoint evaluates in one process to the AUC the ranks printed.
head -1 gen/synthetic.csv > header
first=2
parts=()
for n in 9000 8000 7000 6000; do
    { cat header; sed -n "${first},$((first + n - 1))p" gen/synthetic.csv; } > "gen/part$n.csv"
    parts+=(--data "gen/part$n.csv")
    first=$((first + n))
done
"$HINET" train --schema "$schema" "${parts[@]}" --epochs 1 > parts1.out 2> parts1.err || { cat parts1.err; fail "one process on the part files"; }
rows1=$(grep -o 'rows train [0-9]*, valid [0-9]*, test [0-9]*' parts1.err)
for mode in in-memory stream; do
    "${MPIRUN[@]}" -np 2 "$HINET" train --schema "$schema" "${parts[@]}" --"$mode" --epochs 2 --batch-size 256 \
        --checkpoint "parts-$mode.ckpt" > "parts-$mode.out" 2> "parts-$mode.err" || { cat "parts-$mode.err"; fail "train --$mode on part files, 2 ranks"; }
    grep -q "each rank reads its own files" "parts-$mode.err" || { cat "parts-$mode.err"; fail "--$mode: the ranks did not read by file"; }
    rows2=$(grep -o 'rows train [0-9]*, valid [0-9]*, test [0-9]*' "parts-$mode.err")
    [ -n "$rows1" ] && [ "$rows1" = "$rows2" ] || fail "--$mode: 2 ranks split the part files as '$rows2', one process as '$rows1'"
    per_rank=$(grep -o 'training rows per rank: [0-9]* / [0-9]*' "parts-$mode.err")
    auc=$(grep 'mean AUC over scenarios and tasks' "parts-$mode.out" | awk '{print $NF}')
    "$HINET" eval "parts-$mode.ckpt" --schema "$schema" "${parts[@]}" > "parts-$mode-eval.out" 2>&1 || { cat "parts-$mode-eval.out"; fail "eval of the --$mode part-file checkpoint"; }
    auc1=$(grep 'mean AUC over scenarios and tasks' "parts-$mode-eval.out" | awk '{print $NF}')
    [ "$auc1" = "$auc" ] || fail "--$mode: one process evaluates the checkpoint to $auc1, the ranks to $auc"
    ok "--$mode by file on 2 ranks ($rows2; $per_rank; test AUC $auc, the same in one process)"
done

# 8. A rank that dies mid-epoch ends the job within seconds, with a message; the last
#    checkpoint still loads.
"${MPIRUN[@]}" -np 2 "$HINET" train --rows 200000 --epochs 50 --batch-size 256 --checkpoint fault.ckpt \
    > fault.out 2> fault.err &
job=$!
for _ in $(seq 1 600); do [ -f fault.ckpt ] && break; sleep 0.1; done
[ -f fault.ckpt ] || { kill "$job" 2>/dev/null; cat fault.err; fail "no checkpoint written within 60 s"; }
# This job's ranks only (children of its mpirun), not another hinet on the machine.
ranks=$(pgrep -P "$job" -x hinet || true)
victim=$(echo "$ranks" | tail -1)
[ -n "$victim" ] || fail "no rank process found"
start=$(date +%s.%N)
kill -9 "$victim"
set +e
wait "$job"
status=$?
set -e
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
[ "$status" != 0 ] || fail "the job exited 0 after a rank was killed"
awk -v t="$took" 'BEGIN { exit !(t < 15) }' || fail "the job took $took s to stop after a rank died"
grep -qi "rank" fault.err || { cat fault.err; fail "the launcher's message does not name the rank"; }
alive() { for p in $ranks; do kill -0 "$p" 2>/dev/null && echo "$p"; done; true; }
for _ in $(seq 1 50); do [ -z "$(alive)" ] && break; sleep 0.1; done
[ -z "$(alive)" ] || fail "ranks $(alive) are still running 5 s after the job ended"
"$HINET" eval fault.ckpt --rows 200000 > fault_eval.out 2>&1 || { cat fault_eval.out; fail "the last checkpoint does not load"; }
ok "a killed rank stops the job in $took s (status $status); the last checkpoint loads"

# 9. An error on one rank (here: a bad option seen by every rank) is printed with the rank.
set +e
"${MPIRUN[@]}" -np 2 "$HINET" train --rows 1000 --epochs 1 --embeddings bogus > bad.out 2> bad.err
status=$?
set -e
[ "$status" != 0 ] || fail "a bad option did not fail the job"
grep -q "rank [01] of 2" bad.err || { cat bad.err; fail "the error does not name the rank"; }
ok "errors name their rank and end the job"
echo "all distributed checks passed"
