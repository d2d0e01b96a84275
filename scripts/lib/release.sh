# Shared by scripts/release and scripts/test-release. Source it; it defines functions only.

# check_shared_libs BINARY: prints the binary's own shared-library needs (its NEEDED entries) and `ldd BINARY`
# (which adds what libpq in turn needs), and fails when ldd finds a library missing or when the binary itself
# needs anything beyond libpq and the C library family. The Swift runtime, Foundation, Dispatch and the C++
# runtime are linked statically. libz is allowed: the statically linked Foundation needs it, and zlib1g is part
# of Debian's required set (present in minbase and in bookworm-slim).
check_shared_libs() {
    local binary=$1 output needed unexpected
    output=$(ldd "$binary") || { echo "ldd failed on $binary" >&2; return 1; }
    echo "  ldd $binary:" >&2
    printf '%s\n' "$output" | sed 's/^/    /' >&2
    if printf '%s\n' "$output" | grep -q 'not found'; then
        echo "$binary: a shared library is missing" >&2; return 1
    fi
    if command -v readelf >/dev/null 2>&1; then
        needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    else
        # No binutils: fall back to everything ldd lists (stricter: includes libpq's own needs).
        needed=$(printf '%s\n' "$output" | awk '{print $1}' | sed 's|.*/||')
    fi
    echo "  needed by the binary itself: $(echo $needed)" >&2
    # Allowed: libpq, libc, libm, libpthread, libdl, librt, libz, the dynamic loader (and the vDSO, for the ldd fallback).
    unexpected=$(printf '%s\n' "$needed" \
        | grep -v -E '^(libpq\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libz\.so|ld-linux[-a-z0-9_.]*\.so|linux-vdso\.so|linux-gate\.so)' || true)
    if [ -n "$unexpected" ]; then
        echo "$binary needs shared libraries beyond libpq and the C library:" >&2
        printf '    %s\n' $unexpected >&2
        return 1
    fi
}
