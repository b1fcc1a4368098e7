#!/bin/sh
# Runs every native Go fuzz target for FUZZTIME each (go test -fuzz takes
# one package and one target per run). `make fuzz` runs them long,
# `make fuzz-ci` (part of `make test`) briefly. A crasher fails the run;
# go test writes it under the package's testdata/fuzz/<Target>/, where it
# stays as a regression test once the bug is fixed (docs/security.md).
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
# Minimising an interesting input can take up to a minute by default;
# the time goes to finding inputs instead.
MINIMIZE=${FUZZMINIMIZETIME:-2s}
TARGETS="
./specs FuzzLoadBundle
./libcontainer FuzzLoadState
./libcontainer FuzzSyncRecv
./libcontainer FuzzInitError
./libcontainer/console FuzzReceive
./runtime FuzzParseArgs
./imagetool/reference FuzzParse
./imagetool/pull FuzzManifest
./imagetool/unpack FuzzApplyLayer
"
echo "$TARGETS" | while read -r pkg target; do
	[ -n "$pkg" ] || continue
	echo "== $pkg $target ($FUZZTIME)"
	if ! "$GO" test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" "$pkg"; then
		echo "fuzz: $pkg $target FAILED" >&2
		exit 1
	fi
done
