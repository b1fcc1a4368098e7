#!/bin/sh
# make demo: runs a container from a busybox-static bundle through the whole
# lifecycle (create, state, start, state, kill, delete), printing each step
# with its time. Offline; needs root.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
berth="$top/bin/berth"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root="$work/state"
id="berth-demo-$$"
cleanup() {
	"$berth" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
step() {
	label=$1; shift
	t0=$(now_ms)
	"$@"
	t1=$(now_ms)
	printf '   (%s took %d ms)\n' "$label" $((t1 - t0))
}

echo "== building a bundle from busybox-static in $work/bundle"
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for app in sh ls cat echo hostname id sleep ps mount; do
	ln -s busybox "$work/bundle/rootfs/bin/$app"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$work/bundle/rootfs/etc/passwd"
echo "root:x:0:" >"$work/bundle/rootfs/etc/group"
(cd "$work/bundle" && "$berth" spec)
# A non-interactive process that shows what it sees, then waits to be killed.
sed -i 's/"terminal": true/"terminal": false/; s/"hostname": "[^"]*"/"hostname": "berth-demo"/' "$work/bundle/config.json"
sed -i 's|"sh"$|"sh", "-c", "echo hello from $(hostname): uid=$(id -u) pid=$$; ls /; exec sleep 1000"|' "$work/bundle/config.json"

echo "== berth create $id"
step create "$berth" --root "$root" create --bundle "$work/bundle" "$id"
echo "== berth state $id"
step state "$berth" --root "$root" state "$id"
echo "== berth start $id (the container prints below)"
step start "$berth" --root "$root" start "$id"
sleep 0.3
echo "== berth state $id"
step state "$berth" --root "$root" state "$id"
echo "== berth list"
step list "$berth" --root "$root" list
echo "== berth kill $id KILL"
step kill "$berth" --root "$root" kill "$id" KILL
sleep 0.2
echo "== berth state $id"
"$berth" --root "$root" state "$id" | grep '"status"'
echo "== berth delete $id"
step delete "$berth" --root "$root" delete "$id"
echo "== berth run (create + start + wait + delete) of /bin/true-like 'echo'"
sed -i 's|"sh", "-c", .*|"echo", "run: done"|' "$work/bundle/config.json"
step run "$berth" --root "$root" run --bundle "$work/bundle" "$id-run"
echo "demo finished: every step succeeded"
