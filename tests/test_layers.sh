#!/bin/sh
# test_layers.sh — the layering rules of ARCHITECTURE.md, checked on every `make test`:
#   1. a file includes only headers of its own layer and of the layers below it;
#   2. every symbol libt5pt.a and libt5pt.so export starts with t5pt_, and the shared
#      library carries its soname.
# usage: tests/test_layers.sh path/to/libt5pt.a path/to/libt5pt.so.X.Y.Z
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
    # __odr_asan.<name>: AddressSanitizer's one-definition-rule marker of global <name>
    syms=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | grep -v '^__odr_asan\.')
    bad=$(echo "$syms" | grep -v '^t5pt_')
    nsym=$(echo "$syms" | grep -c .)
    if [ -n "$bad" ]; then echo "FAIL: exported symbols without the t5pt_ prefix:"; echo "$bad"; fail=1; fi
    if [ "$nsym" -lt 100 ]; then echo "FAIL: only $nsym exported symbols found in $lib"; fail=1; fi
fi
so=${2:-}
if [ -z "$so" ] || [ ! -f "$so" ]; then
    echo "FAIL: shared library '$so' not built"; fail=1
else
    # dynamic symbols the library defines (U = imported from libc/libm/libgomp)
    dsyms=$(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }')
    dbad=$(echo "$dsyms" | grep -v '^t5pt_')
    dsym=$(echo "$dsyms" | grep -c '^t5pt_')
    if [ -n "$dbad" ]; then echo "FAIL: $so exports symbols without the t5pt_ prefix:"; echo "$dbad"; fail=1; fi
    if [ "$dsym" -ne "$nsym" ]; then echo "FAIL: $so exports $dsym t5pt_ symbols, libt5pt.a $nsym"; fail=1; fi
    want=$(basename "$so" | sed 's/^\(libt5pt\.so\.[0-9]*\).*/\1/')
    soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
    if [ "$soname" != "$want" ]; then echo "FAIL: $so has soname '$soname', expected $want"; fail=1; fi
fi
[ $fail -eq 0 ] && echo "layers: $checked files, includes point down; $nsym exported symbols, all t5pt_, also in $so ($soname)"
exit $fail
