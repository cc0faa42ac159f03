#!/bin/sh
# test_layers.sh — the layering rules of ARCHITECTURE.md, checked on every `make test`:
#   1. a file includes only headers of its own layer and of the layers below it;
#   2. every symbol libt5pt.a exports starts with t5pt_.
# usage: tests/test_layers.sh path/to/libt5pt.a
set -u
cd "$(dirname "$0")/.."
fail=0

# allowed[layer] = the layers whose headers it may include (besides itself and t5pt.h)
allowed() {
    case "$1" in
    base) echo "" ;;
    simd) echo "base" ;;
    io) echo "base simd" ;;
    tokenizer) echo "base io" ;;
    model) echo "base simd io" ;;
    train) echo "base simd io tokenizer model" ;;
    cli) echo "base simd io tokenizer model train" ;;
    esac
}

checked=0
for f in src/*/*.c src/*/*.h simd/*.c simd/*.h; do
    case "$f" in simd/*) layer=simd ;; *) layer=$(echo "$f" | cut -d/ -f2) ;; esac
    ok="$layer $(allowed "$layer")"
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        [ "$inc" = "t5pt.h" ] && continue
        dep=${inc%%/*}
        if [ "$dep" = "$inc" ]; then
            echo "FAIL $f: include \"$inc\" must name its layer (e.g. \"io/json.h\")"; fail=1; continue
        fi
        case " $ok " in *" $dep "*) ;; *) echo "FAIL $f ($layer) includes $inc ($dep): upward or sideways"; fail=1 ;; esac
    done
    checked=$((checked + 1))
done
if [ "$checked" -lt 40 ]; then echo "FAIL: only $checked files checked"; fail=1; fi

lib=${1:-build/libt5pt.a}
if [ ! -f "$lib" ]; then
    echo "FAIL: $lib not built"; fail=1
else
    # __odr_asan.<name>: AddressSanitizer's one-definition-rule marker of global <name> (make asan)
    bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | grep -v '^t5pt_' | grep -v '^__odr_asan\.t5pt_')
    nsym=$(nm -g --defined-only "$lib" | awk 'NF == 3' | wc -l)
    if [ -n "$bad" ]; then echo "FAIL: exported symbols without the t5pt_ prefix:"; echo "$bad"; fail=1; fi
    if [ "$nsym" -lt 100 ]; then echo "FAIL: only $nsym exported symbols found in $lib"; fail=1; fi
fi
[ $fail -eq 0 ] && echo "layers: $checked files, includes point down; $nsym exported symbols, all t5pt_"
exit $fail
