package rootfs

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseIgnoresEmptyOption(t *testing.T) {
	o, err := parseMountOptions([]string{"", "ro", ""})
	if err != nil || o.flags != unix.MS_RDONLY || len(o.data) != 0 {
		t.Fatalf("options with empty strings: %+v, %v; want just ro (runc ignores them)", o, err)
	}
}

func TestParseFlagOptions(t *testing.T) {
	for opt, want := range flagOptions {
		o, err := parseMountOptions([]string{opt})
		if err != nil {
			t.Fatalf("%s: %v", opt, err)
		}
		if want.clear {
			if o.flags != 0 || o.cleared != want.flag {
				t.Errorf("%s: flags %#x cleared %#x, want cleared %#x", opt, o.flags, o.cleared, want.flag)
			}
		} else if o.flags != want.flag || o.cleared != 0 {
			t.Errorf("%s: flags %#x cleared %#x, want flags %#x", opt, o.flags, o.cleared, want.flag)
		}
		if len(o.data) != 0 || o.bind {
			t.Errorf("%s: leaked into data %v / bind", opt, o.data)
		}
	}
	// Spot-check the table against mount(2) values.
	spot := map[string]uintptr{
		"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
		"sync": unix.MS_SYNCHRONOUS, "dirsync": unix.MS_DIRSYNC, "remount": unix.MS_REMOUNT,
		"mand": unix.MS_MANDLOCK, "noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME,
		"relatime": unix.MS_RELATIME, "strictatime": unix.MS_STRICTATIME, "lazytime": unix.MS_LAZYTIME,
		"silent": unix.MS_SILENT, "iversion": unix.MS_I_VERSION, "nosymfollow": unix.MS_NOSYMFOLLOW,
	}
	for opt, flag := range spot {
		if flagOptions[opt].flag != flag || flagOptions[opt].clear {
			t.Errorf("%s maps to %+v, want set %#x", opt, flagOptions[opt], flag)
		}
	}
	clears := map[string]uintptr{
		"rw": unix.MS_RDONLY, "suid": unix.MS_NOSUID, "dev": unix.MS_NODEV, "exec": unix.MS_NOEXEC,
		"async": unix.MS_SYNCHRONOUS, "atime": unix.MS_NOATIME, "diratime": unix.MS_NODIRATIME,
		"norelatime": unix.MS_RELATIME, "nostrictatime": unix.MS_STRICTATIME, "loud": unix.MS_SILENT,
		"nomand": unix.MS_MANDLOCK, "nolazytime": unix.MS_LAZYTIME, "noiversion": unix.MS_I_VERSION,
		"symfollow": unix.MS_NOSYMFOLLOW,
	}
	for opt, flag := range clears {
		if flagOptions[opt].flag != flag || !flagOptions[opt].clear {
			t.Errorf("%s maps to %+v, want clear %#x", opt, flagOptions[opt], flag)
		}
	}
}

func TestParseLastOptionWins(t *testing.T) {
	o, err := parseMountOptions([]string{"ro", "nosuid", "rw"})
	if err != nil {
		t.Fatal(err)
	}
	if o.flags != unix.MS_NOSUID || o.cleared != unix.MS_RDONLY {
		t.Fatalf("ro,nosuid,rw: flags %#x cleared %#x", o.flags, o.cleared)
	}
	o, _ = parseMountOptions([]string{"rw", "ro"})
	if o.flags != unix.MS_RDONLY || o.cleared != 0 {
		t.Fatalf("rw,ro: flags %#x cleared %#x", o.flags, o.cleared)
	}
}

func TestParseBindAndPropagation(t *testing.T) {
	o, err := parseMountOptions([]string{"rbind", "rprivate", "slave"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.bind || !o.recursive {
		t.Fatalf("rbind: bind %v recursive %v", o.bind, o.recursive)
	}
	if o.recPropagation != unix.MS_PRIVATE || o.propagation != unix.MS_SLAVE {
		t.Fatalf("propagation %#x rec %#x", o.propagation, o.recPropagation)
	}
	o, _ = parseMountOptions([]string{"bind"})
	if !o.bind || o.recursive {
		t.Fatalf("bind: bind %v recursive %v", o.bind, o.recursive)
	}
	for name, p := range propagationOptions {
		o, err := parseMountOptions([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		got := o.propagation
		if p.recursive {
			got = o.recPropagation
		}
		if got != p.flag {
			t.Errorf("%s: got %#x want %#x", name, got, p.flag)
		}
	}
}

func TestParseRecursiveAttrs(t *testing.T) {
	cases := map[string]unix.MountAttr{
		"rro":            {Attr_set: unix.MOUNT_ATTR_RDONLY},
		"rrw":            {Attr_clr: unix.MOUNT_ATTR_RDONLY},
		"rnosuid":        {Attr_set: unix.MOUNT_ATTR_NOSUID},
		"rsuid":          {Attr_clr: unix.MOUNT_ATTR_NOSUID},
		"rnodev":         {Attr_set: unix.MOUNT_ATTR_NODEV},
		"rdev":           {Attr_clr: unix.MOUNT_ATTR_NODEV},
		"rnoexec":        {Attr_set: unix.MOUNT_ATTR_NOEXEC},
		"rexec":          {Attr_clr: unix.MOUNT_ATTR_NOEXEC},
		"rnodiratime":    {Attr_set: unix.MOUNT_ATTR_NODIRATIME},
		"rdiratime":      {Attr_clr: unix.MOUNT_ATTR_NODIRATIME},
		"rnosymfollow":   {Attr_set: unix.MOUNT_ATTR_NOSYMFOLLOW},
		"rsymfollow":     {Attr_clr: unix.MOUNT_ATTR_NOSYMFOLLOW},
		"rnoatime":       {Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		"rstrictatime":   {Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		"rrelatime":      {Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		"ratime":         {Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		"rnorelatime":    {Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		"rnostrictatime": {Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
	}
	if len(cases) != len(recAttrOptions) {
		t.Fatalf("test covers %d recursive options, table has %d", len(cases), len(recAttrOptions))
	}
	for opt, want := range cases {
		o, err := parseMountOptions([]string{opt})
		if err != nil {
			t.Fatal(err)
		}
		if o.recAttr != want {
			t.Errorf("%s: got %+v want %+v", opt, o.recAttr, want)
		}
		if o.flags != 0 || len(o.data) != 0 {
			t.Errorf("%s leaked into flags/data", opt)
		}
	}
	// Later atime options replace earlier ones; the kernel wants the whole
	// atime field cleared whenever one is set.
	o, _ := parseMountOptions([]string{"rnoatime", "rrelatime", "rro", "rrw", "rnosuid"})
	want := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID, Attr_clr: unix.MOUNT_ATTR__ATIME | unix.MOUNT_ATTR_RDONLY}
	if o.recAttr != want {
		t.Fatalf("combined: got %+v want %+v", o.recAttr, want)
	}
}

func TestParseDataAndSpecials(t *testing.T) {
	o, err := parseMountOptions([]string{"nosuid", "size=65536k", "mode=755", "newinstance", "idmap", "tmpcopyup"})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.mountData(); got != "size=65536k,mode=755,newinstance" {
		t.Fatalf("data %q", got)
	}
	if !o.hasData("mode") || o.hasData("uid") || !o.hasData("newinstance") {
		t.Fatal("hasData wrong")
	}
	if !o.idmap || o.recIdmap || !o.tmpcopyup {
		t.Fatalf("idmap %v ridmap %v tmpcopyup %v", o.idmap, o.recIdmap, o.tmpcopyup)
	}
	o, _ = parseMountOptions([]string{"ridmap"})
	if !o.idmap || !o.recIdmap {
		t.Fatal("ridmap")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		opts []string
		want string
	}{
		{[]string{"rbind", "rdonly"}, `unknown option "rdonly" for a bind mount`},
		{[]string{"bind", "size=1m", "noatime", "rdnly"}, `unknown option "rdnly" for a bind mount`},
		{[]string{"size=1m,mode=755"}, "contains a comma"},
		{[]string{"bind", "tmpcopyup"}, "tmpcopyup is only valid for tmpfs"},
	}
	for _, c := range cases {
		_, err := parseMountOptions(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want error containing %q", c.opts, err, c.want)
		}
	}
}

func TestMountAttrFromFlags(t *testing.T) {
	cases := []struct {
		set, cleared uintptr
		want         unix.MountAttr
	}{
		{unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, 0,
			unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}},
		{0, unix.MS_RDONLY | unix.MS_NOSUID, unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}},
		{unix.MS_NOATIME, 0, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{unix.MS_STRICTATIME, 0, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{unix.MS_RELATIME | unix.MS_NODIRATIME, 0, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODIRATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{unix.MS_NOSYMFOLLOW, 0, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSYMFOLLOW}},
		// Superblock flags do not become mount attributes.
		{unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_LAZYTIME, 0, unix.MountAttr{}},
	}
	for _, c := range cases {
		if got := mountAttrFromFlags(c.set, c.cleared); !reflect.DeepEqual(got, c.want) {
			t.Errorf("set %#x cleared %#x: got %+v want %+v", c.set, c.cleared, got, c.want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	good := map[string]string{
		"net.ipv4.ip_forward":               "net/ipv4/ip_forward",
		"kernel.domainname":                 "kernel/domainname",
		"net.ipv4.conf.eth0/100.forwarding": "net/ipv4/conf/eth0.100/forwarding",
	}
	for k, want := range good {
		got, err := sysctlPath(k)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", k, got, err, want)
		}
	}
	for _, bad := range []string{"", "net..ipv4", ".net", "net.", "net./.x", "net.//.x", "kernel.../../etc"} {
		if got, err := sysctlPath(bad); err == nil {
			t.Errorf("%q: accepted as %q", bad, got)
		}
	}
}

// TestBindIgnoresFilesystemData: key=value options mean nothing to a bind
// mount and are dropped, as runc does (runtime-tools' mounts test has one).
func TestBindIgnoresFilesystemData(t *testing.T) {
	o, err := parseMountOptions([]string{"bind", "mode=755", "ro"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.data) != 0 || o.flags&unix.MS_RDONLY == 0 {
		t.Fatalf("bind,mode=755,ro: data %q flags %#x; want no data and MS_RDONLY", o.data, o.flags)
	}
}
