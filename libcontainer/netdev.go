package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	berthspecs "github.com/berthproject/berth/specs"
)

// moveNetDevices moves linux.netDevices from the runtime's network
// namespace into the init's (config-linux.md#network-devices): each is
// renamed if asked, keeps its permanent addresses of global scope (a move
// drops every address) and is set up. Devices are never moved back: their
// lifecycle follows the namespace's owner. So when create fails after a
// move and the new namespace dies, the kernel decides: physical devices
// return to the initial namespace, virtual ones (veth, macvlan) are gone.
func moveNetDevices(devs map[string]specs.LinuxNetDevice, initPid int) error {
	if len(devs) == 0 {
		return nil
	}
	target, err := netns.GetFromPath("/proc/" + strconv.Itoa(initPid) + "/ns/net")
	if err != nil {
		return fmt.Errorf("linux.netDevices: the container's network namespace: %w", err)
	}
	defer target.Close()
	inside, err := netlink.NewHandleAt(target)
	if err != nil {
		return fmt.Errorf("linux.netDevices: netlink in the container's network namespace: %w", err)
	}
	defer inside.Close()
	// Sorted, so a failure always names the same device first.
	names := make([]string, 0, len(devs))
	for name := range devs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := moveNetDevice(name, devs[name].Name, target, inside); err != nil {
			return fmt.Errorf("%s: %w", berthspecs.FieldName("linux.netDevices", name), err)
		}
	}
	return nil
}

func moveNetDevice(hostName, newName string, target netns.NsHandle, inside *netlink.Handle) error {
	link, err := netlink.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("no such network device in the runtime's namespace: %w", err)
	}
	all, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing its addresses: %w", err)
	}
	var keep []netlink.Addr
	for _, a := range all {
		if a.Flags&unix.IFA_F_PERMANENT != 0 && a.Scope == unix.RT_SCOPE_UNIVERSE {
			keep = append(keep, a)
		}
	}
	if err := netlink.LinkSetNsFd(link, int(target)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("moving it: a device named %q already exists in the container's namespace", hostName)
		}
		return fmt.Errorf("moving it: %w", err)
	}
	link, err = inside.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("finding it after the move: %w", err)
	}
	if newName != "" && newName != hostName {
		// The kernel fills in a "%d" template with a free number.
		if err := inside.LinkSetName(link, newName); err != nil {
			return fmt.Errorf("renaming it to %q: %w", newName, err)
		}
		if link, err = inside.LinkByIndex(link.Attrs().Index); err != nil {
			return fmt.Errorf("finding it after the rename: %w", err)
		}
	}
	for _, a := range keep {
		a.Label = "" // the old label would name the old device
		if err := inside.AddrAdd(link, &a); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("restoring address %s: %w", a.IPNet, err)
		}
	}
	if err := inside.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting it up: %w", err)
	}
	return nil
}
