package cgroups

import (
	"context"
	"fmt"
	"strings"
	"time"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	lib "github.com/opencontainers/cgroups"
)

// With the systemd driver the library writes some settings only to the
// cgroup files, while systemd, which manages the same files for the unit
// (the scope has IOAccounting on), writes its own value back at the next
// `systemctl daemon-reload`. setUnitProps records those as properties of
// the unit too, so systemd re-applies berth's values instead. Today that
// is the block I/O weight (systemd's IOWeight, the io.weight scale).

// unitName is the systemd unit the library makes for cg (its getUnitName).
func unitName(cg *lib.Cgroup) string {
	if strings.HasSuffix(cg.Name, ".slice") {
		return cg.Name
	}
	return cg.ScopePrefix + "-" + cg.Name + ".scope"
}

// unitProps are the properties res needs on the unit beyond the library's.
func unitProps(res *Resources) []systemdDbus.Property {
	var props []systemdDbus.Property
	if res.BlkioWeight != 0 {
		props = append(props, systemdDbus.Property{Name: "IOWeight",
			Value: dbus.MakeVariant(lib.ConvertBlkIOToIOWeightValue(res.BlkioWeight))})
	}
	return props
}

// setUnitProps sets unitProps(res) on the container's unit.
func (m *Manager) setUnitProps(res *Resources) error {
	props := unitProps(res)
	if !m.systemd || len(props) == 0 {
		return nil
	}
	return m.withSystemd(func(ctx context.Context, conn *systemdDbus.Conn) error {
		if err := conn.SetUnitPropertiesContext(ctx, m.unit, true, props...); err != nil {
			return fmt.Errorf("setting %s properties of %s: %w", props[0].Name, m.unit, err)
		}
		return nil
	})
}

// attachViaSystemd has systemd move pid into the container's unit
// (AttachProcessesToUnit), for a process the caller may not move itself.
func (m *Manager) attachViaSystemd(pid int) error {
	return m.withSystemd(func(ctx context.Context, conn *systemdDbus.Conn) error {
		if err := conn.AttachProcessesToUnit(ctx, m.unit, "/", []uint32{uint32(pid)}); err != nil {
			return fmt.Errorf("asking systemd to move pid %d into %s: %w", pid, m.unit, err)
		}
		return nil
	})
}

// withSystemd calls f with a connection to the system's systemd or,
// rootless, the caller's user manager, bounded by 10 seconds.
func (m *Manager) withSystemd(f func(context.Context, *systemdDbus.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conn *systemdDbus.Conn
	var err error
	if m.rootless {
		conn, err = systemdDbus.NewUserConnectionContext(ctx)
	} else {
		conn, err = systemdDbus.NewSystemConnectionContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("connecting to systemd: %w", err)
	}
	defer conn.Close()
	return f(ctx, conn)
}
