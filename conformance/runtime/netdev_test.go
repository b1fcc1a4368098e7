package runtime_test

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostVeth makes a veth pair on the host, one end with a permanent global
// IPv4 address (and a link-scope IPv6 one), for the test's duration, and
// returns that end's name. Names are unique: tests run in parallel.
func hostVeth(t *testing.T, addr string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "bt" + hex.EncodeToString(b)
	for _, args := range [][]string{
		{"link", "add", name, "type", "veth", "peer", "name", name + "p"},
		{"addr", "add", addr, "dev", name},
		{"addr", "add", "fe80::b:1/64", "dev", name},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name+"p").Run() })
	return name
}

// TestNetDevices: linux.netDevices moves a host device into the
// container's network namespace (runtime-spec 1.3), renamed, up, with its
// permanent global address; it is gone from the host, and a device that
// does not exist fails create by name and leaves nothing.
func TestNetDevices(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 predates linux.netDevices")
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8) to make a dummy device:", err)
	}
	t.Run("moved", func(t *testing.T) {
		t.Parallel()
		dev := hostVeth(t, "10.199.7.1/24")
		c := newContainer(t, "/bin/sh", "-c", "ip -o addr show ctr0; ip -o link show ctr0")
		c.Spec.Linux.NetDevices = map[string]specs.LinuxNetDevice{dev: {Name: "ctr0"}}
		c.mustCreate()
		if out, err := exec.Command("ip", "link", "show", dev).CombinedOutput(); err == nil {
			t.Errorf("%s is still in the host's namespace after create:\n%s", dev, out)
		}
		c.start()
		c.waitStatus(specs.StateStopped)
		out := c.output()
		if !strings.Contains(out, "inet 10.199.7.1/24") {
			t.Errorf("the address did not move with the device:\n%s", out)
		}
		if strings.Contains(out, "fe80::b:1") {
			t.Errorf("a link-scope address was restored:\n%s", out)
		}
		if !strings.Contains(out, "UP") {
			t.Errorf("the device is not up in the container:\n%s", out)
		}
	})
	t.Run("missing-device", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/true")
		c.Spec.Linux.NetDevices = map[string]specs.LinuxNetDevice{"btnosuchdev": {}}
		r := c.create()
		if r.Code == 0 {
			t.Fatalf("create with a missing network device succeeded")
		}
		checkOneLineError(t, r, []string{"linux.netDevices.btnosuchdev", "no such network device"})
		assertNothingLeft(t, c, r)
	})
}
