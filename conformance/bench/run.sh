#!/bin/sh
# make bench: run the benchmarks and write their results into
# docs/benchmarks.md.
#
#   sh conformance/bench/run.sh [runtime] [pull] [bundle]   (default: all)
#
# Each benchmark is a Go program under conformance/bench/NAME that prints a
# markdown section on stdout. Its section in docs/benchmarks.md sits
# between "<!-- bench:NAME begin" and "<!-- bench:NAME end -->" markers and
# is replaced as a whole (appended if the markers are missing); the rest of
# the file is written by hand and kept. A benchmark that fails leaves its
# previous section untouched and makes this script exit 1. A benchmark whose
# directory has no Go program yet is skipped with a message.
set -u
cd "$(dirname "$0")/../.." || exit 1

doc=docs/benchmarks.md
names=${*:-runtime pull bundle}

# The command each benchmark's owner documents (docs/imagetool.md for pull).
bench_cmd() {
	case $1 in
	runtime) echo "go run ./conformance/bench/runtime" ;;
	pull) echo "go run ./conformance/bench/pull" ;;
	bundle) echo "go run ./conformance/bench/bundle" ;;
	*) return 1 ;;
	esac
}

cgroup_mode() {
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		echo "v2 (unified)"
	elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
		echo "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
	else
		echo "v1 (legacy)"
	fi
}

first_line() { "$@" 2>/dev/null | head -n 1; }

if [ ! -x bin/berth ]; then
	echo "run.sh: bin/berth missing: run make build (or make bench) first" >&2
	exit 1
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="$(nproc) CPUs ($cpu), Linux $(uname -r), cgroups $(cgroup_mode), /run on $(findmnt -no FSTYPE --target /run)"
versions="berth $(first_line bin/berth --version | sed 's/^berth version //'), $(first_line /usr/sbin/runc --version), $(first_line /usr/bin/crun --version), $(go version | cut -d' ' -f3)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for name in $names; do
	if ! cmd=$(bench_cmd "$name"); then
		echo "run.sh: unknown benchmark $name (runtime, pull or bundle)" >&2
		exit 2
	fi
	if ! ls "conformance/bench/$name"/*.go >/dev/null 2>&1; then
		echo "run.sh: conformance/bench/$name has no benchmark yet: skipped" >&2
		continue
	fi
	echo "run.sh: $cmd" >&2
	start=$(date +%s)
	if ! $cmd >"$tmp/$name.md"; then
		echo "run.sh: $name failed; its section in $doc is unchanged" >&2
		status=1
		continue
	fi
	section=$tmp/$name.section
	{
		echo "<!-- bench:$name begin: written by make bench (conformance/bench/run.sh); edits between these markers are overwritten -->"
		echo
		cat "$tmp/$name.md"
		echo
		echo "_Measured $(date -u '+%Y-%m-%d %H:%M UTC') in $(($(date +%s) - start)) s by \`$cmd\` on $machine; $versions._"
		echo
		echo "<!-- bench:$name end -->"
	} >"$section"
	[ -f "$doc" ] || printf '# Benchmarks\n' >"$doc"
	awk -v begin="<!-- bench:$name begin" -v end="<!-- bench:$name end -->" -v section="$section" '
		index($0, begin) == 1 { while ((getline l < section) > 0) print l; skip = 1; found = 1; next }
		skip && index($0, end) == 1 { skip = 0; next }
		!skip { print }
		END { if (!found) { print ""; while ((getline l < section) > 0) print l } }
	' "$doc" >"$tmp/doc" && cat "$tmp/doc" >"$doc"
	echo "run.sh: $name: section written to $doc" >&2
done
exit $status
