#!/bin/sh
# Berth's tests create namespaces, mounts and cgroups: they need root.
if [ "$(id -u)" -ne 0 ]; then
	echo "these tests need root (namespaces, mounts, cgroups): run them as root, e.g. sudo make test" >&2
	exit 1
fi
