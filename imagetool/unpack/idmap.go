package unpack

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// IDMap shifts the owners recorded in a layer (container ids) to the ids
// written on disk (host ids), as a user-namespaced container sees them.
// Empty maps mean identity.
type IDMap struct {
	UIDs []rspec.LinuxIDMapping
	GIDs []rspec.LinuxIDMapping
}

// Identity reports whether the map leaves every id unchanged.
func (m IDMap) Identity() bool { return len(m.UIDs) == 0 && len(m.GIDs) == 0 }

// Host maps a container uid and gid to host ids. An id that no range
// covers is an error: the file could not be owned by anyone in the
// container's user namespace.
func (m IDMap) Host(uid, gid int) (int, int, error) {
	hu, err := mapID(m.UIDs, uid, "uid")
	if err != nil {
		return 0, 0, err
	}
	hg, err := mapID(m.GIDs, gid, "gid")
	if err != nil {
		return 0, 0, err
	}
	return hu, hg, nil
}

func mapID(ranges []rspec.LinuxIDMapping, id int, kind string) (int, error) {
	if len(ranges) == 0 {
		return id, nil
	}
	for _, r := range ranges {
		if id >= int(r.ContainerID) && id-int(r.ContainerID) < int(r.Size) {
			return int(r.HostID) + id - int(r.ContainerID), nil
		}
	}
	return 0, fmt.Errorf("%s %d is outside the --%s-map ranges", kind, id, kind)
}

// ParseIDMapping parses "containerID:hostID:size" as the --uid-map and
// --gid-map flags take it.
func ParseIDMapping(s string) (rspec.LinuxIDMapping, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return rspec.LinuxIDMapping{}, fmt.Errorf("id mapping %q: want containerID:hostID:size", s)
	}
	var v [3]uint32
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return rspec.LinuxIDMapping{}, fmt.Errorf("id mapping %q: %q is not a number", s, p)
		}
		v[i] = uint32(n)
	}
	if v[2] == 0 {
		return rspec.LinuxIDMapping{}, fmt.Errorf("id mapping %q: size is 0", s)
	}
	return rspec.LinuxIDMapping{ContainerID: v[0], HostID: v[1], Size: v[2]}, nil
}

// rootlessXattr is the xattr in which rootless unpacks record the owner a
// file should have, since an unprivileged user cannot chown. The value is
// the protobuf message Resource{uint32 uid = 1; uint32 gid = 2} from
// github.com/rootless-containers/proto, the format umoci and PRoot read.
const rootlessXattr = "user.rootlesscontainers"

// noopID in a Resource means "keep the file's real owner" (container root).
const noopID = 0xFFFFFFFF

// rootlessOwner encodes the Resource for uid:gid, or nil when the owner is
// root:root, which the files already are from inside the container.
func rootlessOwner(uid, gid int) []byte {
	if uid == 0 && gid == 0 {
		return nil
	}
	u, g := uint64(uid), uint64(gid)
	if uid == 0 {
		u = noopID
	}
	if gid == 0 {
		g = noopID
	}
	b := []byte{1<<3 | 0} // field 1, varint
	b = binary.AppendUvarint(b, u)
	b = append(b, 2<<3|0) // field 2, varint
	return binary.AppendUvarint(b, g)
}
