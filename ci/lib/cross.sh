# shellcheck shell=bash
# Shared by ci/build, ci/package, ci/cross and ci/appliance (sourced, not run): board and
# target lookups, and installing the cross toolchain pieces and qemu when they are missing.
# What each target needs and why is in targets/README.md; what was measured on our CI
# machine kind is in ../shared/CROSS-NOTES.md.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Per-target cargo target dirs (gitignored): target/cross/<triple>/...; packages in
# target/cross/packages/.
CROSS_DIR=${TINYSRS_CROSS_DIR:-$ROOT/target/cross}
# Kept across clones (a fresh CI clone has an empty target/): the zig venv.
TINYSRS_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/tinysrs
ZIG_VENV=$TINYSRS_CACHE/zig-venv
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.0
ALL_TARGETS="aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf riscv64gc-unknown-linux-musl loongarch64-unknown-linux-musl mipsel-unknown-linux-musl mips-unknown-linux-musl"

# RUSTFLAGS from the environment would replace the fragments' target rustflags
# (+crt-static, relocation-model): the fragments are the single source of truth.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "$(basename "$0"): $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

fragment_of() {
    local f=$ROOT/targets/$1.toml
    [ -f "$f" ] || die "no cargo config fragment targets/$1.toml"
    echo "$f"
}

# Targets whose std is rebuilt (-Zbuild-std) and linked by zig: their fragment has [unstable].
uses_build_std() { grep -q '^\[unstable\]' "$(fragment_of "$1")"; }

runner_of() { sed -n 's/^runner = "\(.*\)"$/\1/p' "$(fragment_of "$1")"; }

# board_env BOARD: prints shell assignments BOARD_TARGET, BOARD_PROFILE, BOARD_FEATURES
# (comma-separated), BOARD_SIZE_BUDGET, BOARD_SIZE_AIM, BOARD_INIT, BOARD_FORMAT, BOARD_ARCH,
# BOARD_RAM_MB.
board_env() {
    local file=$ROOT/boards/$1/board.toml
    [ -f "$file" ] || die "no board $1 (boards/$1/board.toml); boards: $(cd "$ROOT/boards" && ls -d */ | tr -d / | tr '\n' ' ')"
    python3 - "$file" <<'PY'
import shlex, sys, tomllib
path = sys.argv[1]
with open(path, "rb") as f:
    b = tomllib.load(f)
build, pkg, board = b.get("build", {}), b.get("package", {}), b.get("board", {})
def need(table, key, name):
    if key not in table:
        sys.exit(f"{path}: missing {name}.{key}")
    return table[key]
init = need(pkg, "init", "package")
fmt = need(pkg, "format", "package")
if init not in ("procd", "sysvinit", "systemd"):
    sys.exit(f"{path}: package.init must be procd, sysvinit or systemd, not {init!r}")
if fmt not in ("ipk", "deb", "tar.gz"):
    sys.exit(f"{path}: package.format must be ipk, deb or tar.gz, not {fmt!r}")
if fmt in ("ipk", "deb") and "arch" not in pkg:
    sys.exit(f"{path}: package.arch is needed for {fmt}")
budget = int(need(build, "size_budget", "build"))
ram_mb = need(board, "ram_mb", "board")
if not isinstance(ram_mb, int) or ram_mb <= 0:
    sys.exit(f"{path}: board.ram_mb must be the board's smallest RAM in MB, not {ram_mb!r}")
if not isinstance(board.get("limits", ""), str):
    sys.exit(f"{path}: board.limits must be text (what the caps in [config] refuse)")
out = {
    "BOARD_TARGET": need(build, "target", "build"),
    "BOARD_PROFILE": need(build, "profile", "build"),
    "BOARD_FEATURES": ",".join(need(build, "features", "build")),
    "BOARD_SIZE_BUDGET": budget,
    "BOARD_SIZE_AIM": int(build.get("size_aim", budget)),
    "BOARD_INIT": init,
    "BOARD_FORMAT": fmt,
    "BOARD_ARCH": pkg.get("arch", ""),
    "BOARD_RAM_MB": ram_mb,
}
for k, v in out.items():
    print(f"{k}={shlex.quote(str(v))}")
PY
}

all_boards() { (cd "$ROOT/boards" && for d in */board.toml; do echo "${d%/board.toml}"; done); }

# The first board (by name) built for TARGET: ci/cross builds and smoke-tests its binary.
board_for_target() {
    local b
    for b in $(all_boards); do
        if grep -q "^target = \"$1\"" "$ROOT/boards/$b/board.toml"; then echo "$b"; return 0; fi
    done
    return 1
}

APT_UPDATED=0
apt_install() {
    if [ $APT_UPDATED -eq 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_backports: on Debian 12, adds bookworm-backports (same mirror and key as the
# machine's own Debian source) unless it is there, and sets BACKPORTS_SUITE; elsewhere sets
# it empty. qemu comes from there: loongarch64 needs qemu >= 8.1 (LSX), and bookworm's
# qemu-system 7.2 conflicts with a qemu-utils 10 already installed from backports.
BACKPORTS_SUITE=""
ensure_backports() {
    local codename src=/etc/apt/sources.list.d/tinysrs-backports.sources
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    BACKPORTS_SUITE=""
    [ "$codename" = bookworm ] || return 0
    BACKPORTS_SUITE=bookworm-backports
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        local uri key
        uri=$(debian_mirror) || exit 1
        key=$(awk '/^Signed-By:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
        log "adding $src (bookworm-backports, for qemu >= 8.1)"
        {
            printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\n' "$uri"
            if [ -n "$key" ]; then printf 'Signed-By: %s\n' "$key"; fi
        } | as_root tee "$src" >/dev/null
        APT_UPDATED=0
    fi
}

# The machine's Debian mirror (not the security one), from /etc/apt.
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 ~ /^[a-z]+$/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
    [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt"
    echo "$uri"
}

# qemu-user for RUNNER (qemu-<arch>-static), from bookworm-backports on Debian 12 (see
# ensure_backports). The backports qemu-user-static serves every target.
ensure_qemu() {
    local runner=$1 v
    if command -v "$runner" >/dev/null 2>&1; then
        v=$("$runner" --version | sed -n 's/.*version \([0-9]*\.[0-9]*\).*/\1/p' | head -1)
        if [ "$runner" != qemu-loongarch64-static ] ||
            [ "$(printf '%s\n8.1\n' "$v" | sort -V | head -1)" = 8.1 ]; then
            return 0
        fi
    fi
    ensure_backports
    log "installing qemu-user-static${BACKPORTS_SUITE:+ from $BACKPORTS_SUITE}"
    if [ -n "$BACKPORTS_SUITE" ]; then apt_install -t "$BACKPORTS_SUITE" qemu-user-static; else apt_install qemu-user-static; fi
    command -v "$runner" >/dev/null 2>&1 || die "$runner is still missing after installing qemu-user-static"
}

# qemu-system for a full machine: ensure_qemu_system BINARY PACKAGE (qemu-system-mipsel is in
# qemu-system-mips, qemu-system-aarch64 in qemu-system-arm), from bookworm-backports on Debian
# 12, without recommends (the firmware ROMs are not used: ci/appliance boots -kernel and sets
# romfile= on its NIC).
ensure_qemu_system() {
    command -v "$1" >/dev/null 2>&1 && return 0
    ensure_backports
    log "installing $2${BACKPORTS_SUITE:+ from $BACKPORTS_SUITE}"
    if [ -n "$BACKPORTS_SUITE" ]; then apt_install -t "$BACKPORTS_SUITE" "$2"; else apt_install "$2"; fi
    command -v "$1" >/dev/null 2>&1 || die "$1 is still missing after installing $2"
}

# zig (the linker for the build-std targets) and cargo-zigbuild, from PyPI, in a venv.
ensure_zig() {
    if ! [ -x "$ZIG_VENV/bin/cargo-zigbuild" ] ||
        [ "$("$ZIG_VENV/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ] ||
        [ "$("$ZIG_VENV/bin/python" -m ziglang version 2>/dev/null)" != "$ZIGLANG_VERSION" ]; then
        log "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION (PyPI) in $ZIG_VENV"
        rm -rf "$ZIG_VENV"
        mkdir -p "$TINYSRS_CACHE"
        python3 -m venv "$ZIG_VENV"
        "$ZIG_VENV/bin/pip" install -q "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
    fi
    case ":$PATH:" in *":$ZIG_VENV/bin:"*) ;; *) export PATH=$ZIG_VENV/bin:$PATH ;; esac
}

# Rust pieces for TARGET: rustup's std where it has one, else rust-src (+ zig).
# Never `rustup update` (../shared/CROSS-NOTES.md).
ensure_rust() {
    if uses_build_std "$1"; then
        rustup component list --installed 2>/dev/null | grep -q '^rust-src' || rustup component add rust-src
        ensure_zig
    else
        rustup target list --installed 2>/dev/null | grep -qx "$1" || rustup target add "$1"
    fi
}

# drop_sections BINARY SECTION...: removes sections from an ELF file in place, with the
# toolchain's own rust-objcopy (llvm-objcopy, shipped with rustc since 1.80; it loads the
# toolchain's libLLVM), else an llvm-objcopy on the PATH.
drop_sections() {
    local bin=$1 sysroot tool s
    shift
    local args=()
    for s in "$@"; do args+=("--remove-section=$s"); done
    sysroot=$(rustc --print sysroot)
    tool=$sysroot/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/rust-objcopy
    if [ -x "$tool" ]; then
        LD_LIBRARY_PATH=$sysroot/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$tool" "${args[@]}" "$bin"
    elif tool=$(command -v llvm-objcopy); then
        "$tool" "${args[@]}" "$bin"
    else
        die "no rust-objcopy or llvm-objcopy to drop $* from $bin"
    fi || die "objcopy ${args[*]} $bin failed"
}

# cargo_for TARGET build|test ARGS...: runs cargo for TARGET with its fragment, in its own
# target dir, for at most TINYSRS_CARGO_TIMEOUT (45 minutes). build-std targets go through
# cargo-zigbuild with RUSTC_BOOTSTRAP=1.
cargo_for() {
    local target=$1 verb=$2
    shift 2
    local frag
    frag=$(fragment_of "$target")
    export CARGO_TARGET_DIR=$CROSS_DIR/$target
    if uses_build_std "$target"; then
        local sub=$verb
        [ "$verb" = build ] && sub=zigbuild
        (cd "$ROOT" && RUSTC_BOOTSTRAP=1 timeout "${TINYSRS_CARGO_TIMEOUT:-45m}" cargo-zigbuild "$sub" --config "$frag" --target "$target" "$@")
    else
        (cd "$ROOT" && timeout "${TINYSRS_CARGO_TIMEOUT:-45m}" cargo "$verb" --config "$frag" --target "$target" "$@")
    fi
}
