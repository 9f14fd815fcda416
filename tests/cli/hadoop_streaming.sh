#!/usr/bin/env bash
# The tools' Hadoop Streaming roles, run as Hadoop runs them: `cat input | tool --mapper |
# LC_ALL=C sort | tool --reducer`, with the input split into several mapper runs and with the
# combiner, must print what the tool prints on the whole input in one process. Keys holding a
# TAB or a backslash survive the line protocol; a malformed record is an error naming its line.
#
# Usage: hadoop_streaming.sh TOOLS_DIR WORK_DIR
set -euo pipefail
tools=$1 work=$2
export LC_ALL=C DATAFLOW_PROGRESS=off
rm -rf "$work"
mkdir -p "$work"
cd "$work"

awk 'BEGIN { srand(17); for (i = 0; i < 30000; i++) { n = int(rand() * 9); line = "";
       for (j = 0; j < n; j++) { w = int(1 / (rand() + 0.001)); line = line (j ? " " : "") (w % 7 ? "w" w : "b\\" w) }
       print line } }' > words.txt
awk 'BEGIN { srand(18); print "key,value"; for (i = 0; i < 40000; i++)
       printf "%d,%s%d.%02d\n", int(rand() * rand() * 3000) - 100, (rand() < 0.3 ? "-" : ""), int(rand() * 1000), int(rand() * 100) }' > sums.csv
awk 'BEGIN { srand(19); for (i = 0; i < 8000; i++) { k = int(rand() * 2000);
       printf "%s,left%d\n", (k % 50 ? "k" k : "\"t\tab" k "\""), i } }' > left.csv
awk 'BEGIN { srand(20); for (i = 0; i < 3000; i++) { k = int(rand() * 2500);
       printf "%s,right%d,x\\y\n", (k % 50 ? "k" k : "\"t\tab" k "\""), i } }' > right.csv

fail() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || { diff "$1" "$2" | head -5 >&2; fail "$3"; }; }
# Splits a file into 3 pieces at line ends; each piece's byte offset goes to its mapper as
# Hadoop passes it (mapreduce_map_input_start), so only the first one drops a header.
pieces() { split -n l/3 -d "$1" "$1.piece."; }
offset_of() {  # offset_of FILE PIECE
  local before=0 p
  for p in "$1".piece.*; do [ "$p" = "$2" ] && break; before=$((before + $(stat -c %s "$p"))); done
  echo "$before"
}

# word_count
"$tools/word_count" --threads 2 --top 0 words.txt > wc.expected
[ -s wc.expected ] || fail "word_count printed nothing"
grep -q 'b\\' wc.expected || fail "the input has no word with a backslash"
"$tools/word_count" --mapper < words.txt 2> wc.map.err | sort | "$tools/word_count" --reducer --top 0 > wc.one
same wc.expected wc.one "word_count: one mapper, sorted, one reducer"
grep -q '^reporter:counter:word_count,lines read,30000$' wc.map.err || fail "the mapper reported no counter: $(cat wc.map.err)"
pieces words.txt
for p in words.txt.piece.*; do "$tools/word_count" --mapper < "$p" | sort | "$tools/word_count" --combiner; done 2>/dev/null |
  sort | "$tools/word_count" --reducer --top 0 > wc.split
same wc.expected wc.split "word_count: three mappers with combiners"
"$tools/word_count" --top 7 words.txt > wc.top.expected
for p in words.txt.piece.*; do "$tools/word_count" --mapper < "$p"; done 2>/dev/null | "$tools/word_count" --reducer --top 7 > wc.top
same wc.top.expected wc.top "word_count: --top 7 from unsorted records"

# group_sum
"$tools/group_sum" --threads 2 sums.csv > gs.expected
"$tools/group_sum" --mapper < sums.csv | sort | "$tools/group_sum" --reducer > gs.one
same gs.expected gs.one "group_sum: one mapper, sorted, one reducer"
pieces sums.csv
for p in sums.csv.piece.*; do
  mapreduce_map_input_start=$(offset_of sums.csv "$p") "$tools/group_sum" --mapper < "$p" | sort | "$tools/group_sum" --combiner
done | sort | "$tools/group_sum" --reducer > gs.split
same gs.expected gs.split "group_sum: three mappers with combiners"

# join_csv, each side split in three, every mapper told its file
for type in inner left right full; do
  "$tools/join_csv" --threads 2 --type "$type" left.csv right.csv > "join.$type.expected"
done
grep -q $'\t' join.full.expected || fail "the join has no key with a TAB"
pieces left.csv
pieces right.csv
for f in left.csv right.csv; do
  for p in "$f".piece.*; do
    mapreduce_map_input_file="hdfs://cluster/in/$f" mapreduce_map_input_start=$(offset_of "$f" "$p") \
      "$tools/join_csv" --mapper left.csv right.csv < "$p"
  done
done | sort > join.records
for type in inner left right full; do
  "$tools/join_csv" --reducer --type "$type" < join.records > "join.$type"
  same "join.$type.expected" "join.$type" "join_csv --type $type through mappers and a reducer"
done

# A malformed record: exit 1, naming the line; nothing printed as if it had worked.
printf 'a\t1\nb\tnot-a-count\n' > bad.records
set +e
"$tools/word_count" --reducer --top 0 < bad.records > bad.out 2> bad.err
status=$?
set -e
[ "$status" -eq 1 ] || fail "a malformed record exited $status"
grep -q ':2' bad.err && grep -q "not a number: 'not-a-count'" bad.err || fail "the error does not name line 2: $(cat bad.err)"
printf 'a\\q\t1\n' | "$tools/word_count" --reducer 2> bad.err > /dev/null && fail "a bad escape was accepted"
grep -q "unknown escape" bad.err || fail "a bad escape is not named: $(cat bad.err)"
"$tools/join_csv" --combiner left.csv right.csv 2> bad.err && fail "join_csv took --combiner"
grep -q "no combiner" bad.err || fail "join_csv --combiner: $(cat bad.err)"
echo "word_count, group_sum and join_csv through mappers, combiners and reducers equal one process"
