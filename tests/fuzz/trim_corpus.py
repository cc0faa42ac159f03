#!/usr/bin/python3
"""Picks a corpus under a byte budget from a libFuzzer merge control file.

    $OUT/fuzz_<name> -set_cover_merge=1 -merge_control_file=CTL NEW_DIR SEED_DIRS...
    /usr/bin/python3 tests/fuzz/trim_corpus.py CTL BUDGET_BYTES OUT_DIR

libFuzzer's merge keeps every input that adds a feature, whatever its size. For a harness
whose inputs are whole model directories (fuzz_model_dir: a valid tiny model is ~10 KB) that
is close to a megabyte, too much to commit. This keeps the inputs with the most new features
per byte (greedy weighted set cover over the control file's FT lines) until the budget is
spent, copies them to OUT_DIR, and prints the share of the features and edges (COV lines) kept.
"""
import os
import shutil
import sys


def main():
    ctl, budget, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lines = open(ctl).read().split('\n')
    n = int(lines[0])
    files = lines[2:2 + n]
    ft, cov = {}, {}
    for line in lines[2 + n:]:
        p = line.split()
        if p and p[0] == 'FT':
            ft[int(p[1])] = set(map(int, p[2:]))
        elif p and p[0] == 'COV':
            cov[int(p[1])] = set(map(int, p[2:]))
    size = {i: os.path.getsize(files[i]) for i in ft}
    all_ft, all_cov = set().union(*ft.values()), set().union(*cov.values())
    got, got_cov, used, keep = set(), set(), 0, []
    while True:
        best, best_value = None, 0.0
        for i in ft:
            new = len(ft[i] - got)
            if new and i not in keep and used + size[i] <= budget:
                value = new / (size[i] + 64)   # + 64: a file costs something even when tiny
                if value > best_value:
                    best, best_value = i, value
        if best is None:
            break
        keep.append(best)
        got |= ft[best]
        got_cov |= cov.get(best, set())
        used += size[best]
    os.makedirs(out, exist_ok=True)
    for i in keep:
        shutil.copy(files[i], out)
    print('kept %d of %d files, %d bytes: features %d/%d (%.1f%%), edges %d/%d' %
          (len(keep), len(ft), used, len(got), len(all_ft), 100.0 * len(got) / len(all_ft), len(got_cov), len(all_cov)))


if __name__ == '__main__':
    main()
