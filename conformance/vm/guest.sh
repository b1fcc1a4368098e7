#!/bin/sh
# Runs inside the make vmtest guest (berth-vmtest.service, as root, with
# systemd as PID 1), from the 9p share run.sh set up at /mnt/berth. Every
# suite's exit status goes to out/results; out/status says "done" when
# all ran. The unit powers the guest off afterwards.
set -u
share=/mnt/berth
out=$share/out
exec >>"$out/log" 2>&1
. "$share/env"

fail() {
	echo "vmtest guest: $*"
	echo "host-check 1 0" >>"$out/results"
	echo done >"$out/status"
	exit 1
}

echo "vmtest guest: $(uname -r), $(systemctl --version | head -n 1)"
# The host this suite is about: only the unified hierarchy, no v1 at all.
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not cgroup2"
if grep -q ' cgroup ' /proc/self/mounts; then
	fail "a cgroup v1 hierarchy is mounted: $(grep ' cgroup ' /proc/self/mounts)"
fi
echo "vmtest guest: cgroup2 only; controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
failed=$(systemctl --failed --no-legend --plain | tr '\n' ';')
[ -z "$failed" ] || echo "vmtest guest: failed units: $failed"

# Local copies: the suites hard-link binaries into rootfs trees on ext4.
mkdir -p /opt/berth
cp -r "$share/bin" "$share/tests" /opt/berth/
export RUNTIME=/opt/berth/bin/berth PROBE=/opt/berth/bin/probe BERTH_IMAGE=/opt/berth/bin/berth-image
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# suite NAME SECONDS ARGS...: runs tests/NAME.test in a fresh directory,
# bounded by SECONDS (the Go test timeout a little less, so it reports
# which test hung).
suite() {
	name=$1 limit=$2
	shift 2
	dir=/opt/berth/work/$name
	mkdir -p "$dir"
	echo "=== vmtest suite $name"
	t0=$(date +%s)
	run=""
	[ -n "${VMTEST_RUN:-}" ] && run="-test.run=$VMTEST_RUN"
	(cd "$dir" && timeout -k 10 "$limit" "/opt/berth/tests/$name.test" -test.count=1 \
		-test.timeout="$((limit - 15))s" $run "$@")
	code=$?
	echo "$name $code $(($(date +%s) - t0))" >>"$out/results"
	echo "=== vmtest suite $name: exit $code"
}

# validation [-record]: the runtime-tools programs, prebuilt by run.sh,
# against expected/berth-v2.txt (-record, all of them, writes it to out/).
# By default only the cgroup ones: all 58 take about 10 minutes emulated.
validation() {
	echo "=== vmtest suite validation"
	t0=$(date +%s)
	cp -r "$share/validation" /opt/berth/
	run="-run=${VMTEST_RUN:-^(linux_cgroups_.*|delete_resources)$}"
	[ "${1:-}" = -record ] && run=""
	(cd /opt/berth/validation && timeout -k 10 900 /opt/berth/tests/validate -prebuilt -work work \
		-runtime "$RUNTIME" -expected expected/berth-v2.txt -busybox "$(command -v busybox)" $run "$@")
	code=$?
	[ "${1:-}" = -record ] && cp /opt/berth/validation/expected/berth-v2.txt "$out/"
	echo "validation $code $(($(date +%s) - t0))" >>"$out/results"
	echo "=== vmtest suite validation: exit $code"
}

for s in ${VMTEST_SUITES:-cgroups runtime vm}; do
	case $s in
	cgroups) suite cgroups 300 -test.v ;;
	runtime) suite runtime 600 ;;
	vm) suite vm 600 -test.v ;;
	validation) validation ;;
	validation-record) validation -record ;;
	*) echo "vmtest guest: unknown suite $s"; echo "$s 1 0" >>"$out/results" ;;
	esac
done
echo done >"$out/status"
