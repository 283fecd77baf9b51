#!/bin/sh
# Install liblvs.so (as liblvs.so.VERSION, with links under its SONAME and
# as liblvs.so), liblvs.a (exporting only lvs_* symbols), lvs.h and lvs.pc
# under PREFIX (needs binutils: ld, objcopy, ar):
#
#     cargo build -p lvs-ffi --release
#     ffi/install.sh /usr/local                 # or any prefix you can write
#     cc app.c $(pkg-config --cflags --libs lvs)
#
# (with a prefix pkg-config does not search, set
# PKG_CONFIG_PATH=PREFIX/lib/pkgconfig). BUILD_DIR is where cargo put the
# libraries (liblvs_ffi.so and liblvs_ffi.a, cargo's names for them):
# target/release by default.
#
# usage: ffi/install.sh PREFIX [BUILD_DIR]
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 PREFIX [BUILD_DIR]" >&2
	exit 2
fi
ffi=$(cd "$(dirname "$0")" && pwd)
prefix=$1
build=${2:-$ffi/../target/release}
case $prefix in
/*) ;;
*) prefix=$(pwd)/$prefix ;;
esac
for f in liblvs_ffi.so liblvs_ffi.a; do
	if [ ! -f "$build/$f" ]; then
		echo "$0: $build/$f is missing: run cargo build -p lvs-ffi --release first" >&2
		exit 1
	fi
done
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ffi/Cargo.toml" | head -n 1)

# The SONAME ffi/build.rs gives: liblvs.so.MAJOR, or liblvs.so.0.MINOR for 0.x.
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
if [ "$major" = 0 ]; then soname=liblvs.so.0.$minor; else soname=liblvs.so.$major; fi

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$build/liblvs_ffi.so" "$prefix/lib/liblvs.so.$version"
ln -sf "liblvs.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/liblvs.so"
# liblvs.a: cargo's static library is an archive of every crate it links
# (std, compiler-builtins, ...), each exporting its own global symbols,
# which could clash with another Rust static library in the same program.
# Link them into one relocatable object whose only global symbols are the
# C API's (lvs_*): the references between the crates are resolved inside
# that object, so localising the rest changes nothing for the program.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ld -r --whole-archive "$build/liblvs_ffi.a" -o "$tmp/lvs.o"
# Rust objects embed LLVM bitcode (.llvmbc, for cross-crate LTO); joined
# into one section it no longer parses, and binutils' LLVM plugin, where
# installed, aborts on it. C programs never use it: drop it.
objcopy --wildcard --keep-global-symbol='lvs_*' \
	--remove-section=.llvmbc --remove-section=.llvmcmd "$tmp/lvs.o"
rm -f "$tmp/liblvs.a"
ar rcs "$tmp/liblvs.a" "$tmp/lvs.o"
install -m 0644 "$tmp/liblvs.a" "$prefix/lib/liblvs.a"
install -m 0644 "$ffi/include/lvs.h" "$prefix/include/lvs.h"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$ffi/lvs.pc.in" \
	>"$prefix/lib/pkgconfig/lvs.pc"
echo "installed lvs $version under $prefix"
