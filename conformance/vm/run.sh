#!/bin/bash
# make vmtest: boots a Debian bookworm VM (systemd as PID 1, pure cgroup v2)
# under qemu with KVM and runs berth's suites there: the cgroup package's
# tests, conformance/runtime, and conformance/vm (the systemd driver,
# rootless delegation, podman and containerd with systemd cgroups). The
# binaries are the ones `make` built; the test programs are built here
# with `go test -c`; both reach the guest through a 9p share, and the
# results come back through it. Exits non-zero when a suite fails, the VM
# does not boot, or the run exceeds $VMTEST_TIMEOUT seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
timeout_s=${VMTEST_TIMEOUT:-900}
GO=${GO:-go}

# No KVM, no VM: say so loudly, once, and do not pretend the suite passed
# by printing test output.
why=""
if [ ! -e /dev/kvm ]; then
	why="/dev/kvm does not exist (no hardware or nested virtualization)"
elif ! { exec 8<>/dev/kvm; } 2>/dev/null; then
	why="/dev/kvm cannot be opened by $(id -un)"
fi
if [ -n "$why" ]; then
	echo "!!!!! VMTEST DID NOT RUN: $why; berth is NOT tested on a cgroup v2 + systemd host by this run !!!!!"
	exit 0
fi
exec 8>&-

# PVM, the KVM of some nested clouds, runs only guests with a PVM-enabled
# kernel, and Debian's is not one: the guest would hang right after the
# kernel is decompressed. There qemu emulates the CPU instead (TCG):
# the same guest, several times slower.
accel=(-enable-kvm -cpu host)
if [ -d /sys/module/kvm_pvm ] || [ "${VMTEST_ACCEL:-}" = tcg ]; then
	echo "vmtest: NOTE: /dev/kvm is PVM here, which cannot boot Debian's kernel: the VM runs under TCG emulation (slower)"
	accel=(-accel tcg,thread=multi,tb-size=512 -cpu max)
fi

start=$(date +%s)
img=$(bash conformance/vm/image.sh)
echo "vmtest: image ready after $(($(date +%s) - start)) s: $img"

stage=$(mktemp -d /tmp/berth-vmtest.XXXXXX)
qemu_pid=""
cleanup() {
	# qemu_pid is timeout(1), which passes the TERM on to qemu.
	if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
	if [ -f "$stage/out/berth-v2.txt" ]; then cp "$stage/out/berth-v2.txt" conformance/validation/expected/; fi
	rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$stage/bin" "$stage/tests" "$stage/out"
for b in berth berth-image; do
	[ -x "bin/$b" ] || { echo "vmtest: bin/$b is missing: run make first" >&2; exit 1; }
	cp "bin/$b" "$stage/bin/"
done
# Static test programs: the guest has the same Debian, but no Go.
export CGO_ENABLED=0
$GO build -o "$stage/bin/probe" ./conformance/probe
$GO test -c -o "$stage/tests/cgroups.test" ./libcontainer/cgroups
$GO test -c -o "$stage/tests/runtime.test" ./conformance/runtime
$GO test -c -tags vmtest -o "$stage/tests/vm.test" ./conformance/vm
# The runtime-tools validation programs (VMTEST_SUITES=validation or
# validation-record), built here; the runner runs them there with
# -prebuilt, against expected/berth-v2.txt.
case " ${VMTEST_SUITES:-} " in
*" validation"*)
	mkdir -p "$stage/validation"
	(cd conformance/validation && $GO build -o "$stage/tests/validate" ./cmd/validate &&
		$GO run ./cmd/validate -build-only -work "$stage/validation/work" &&
		cp -r go.mod expected "$stage/validation/")
	;;
esac
cp conformance/vm/guest.sh "$stage/"
# VMTEST_SUITES (cgroups runtime vm) and VMTEST_RUN (a -test.run
# pattern) narrow a run while working on one test.
printf 'VMTEST_RUN=%q\nVMTEST_SUITES=%q\n' "${VMTEST_RUN:-}" "${VMTEST_SUITES:-}" >"$stage/env"
echo "vmtest: test programs built after $(($(date +%s) - start)) s; booting"

# -no-reboot with panic=-1: a guest kernel panic ends qemu instead of
# hanging; timeout bounds everything else.
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
	"${accel[@]}" -smp 2 -m 3072 \
	-nodefaults -no-user-config -display none -monitor none -no-reboot \
	-serial "file:$stage/out/console.log" \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "console=ttyS0 root=/dev/vda rw quiet panic=-1 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all hugepages=64 systemd.show_status=0" \
	-drive "file=$img/disk.raw,if=virtio,format=raw,snapshot=on" \
	-virtfs "local,path=$stage,mount_tag=berth,security_model=none" \
	-nic none &
qemu_pid=$!
touch "$stage/out/log"
tail -n +1 -f --pid="$qemu_pid" "$stage/out/log" &
tail_pid=$!
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=""
wait "$tail_pid" 2>/dev/null || true
elapsed=$(($(date +%s) - start))

if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "vmtest: FAIL: the VM did not finish within $timeout_s s; last console lines:"
	tail -n 60 "$stage/out/console.log"
	exit 1
fi
if [ ! -f "$stage/out/results" ]; then
	echo "vmtest: FAIL: the VM stopped (qemu exit $rc) without reporting results; last console lines:"
	tail -n 60 "$stage/out/console.log"
	exit 1
fi
echo "vmtest: results (in $elapsed s):"
failed=0
while read -r suite code secs; do
	if [ "$code" = 0 ]; then
		echo "  ok    $suite (${secs}s)"
	else
		echo "  FAIL  $suite (exit $code, ${secs}s)"
		failed=1
	fi
done <"$stage/out/results"
if ! grep -q '^done$' "$stage/out/status" 2>/dev/null; then
	echo "vmtest: FAIL: the guest did not finish every suite"
	failed=1
fi
exit $failed
