package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	lib "github.com/opencontainers/cgroups"
	devcfg "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// fullSpec sets every linux.resources field, in the JSON a user would write.
const fullSpec = `{
	"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}],
	"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "kernel": -1, "kernelTCP": 0,
	           "swappiness": 30, "disableOOMKiller": true, "useHierarchy": true, "checkBeforeUpdate": true},
	"cpu": {"shares": 512, "quota": 50000, "burst": 10000, "period": 100000, "realtimeRuntime": 0,
	        "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0", "idle": 1},
	"pids": {"limit": 64},
	"blockIO": {"weight": 300, "leafWeight": 200,
	            "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
	            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
	            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
	            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
	            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]},
	"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
	"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
	"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
	"unified": {"memory.high": "50000000"}
}`

func TestFromSpecConvertsEveryField(t *testing.T) {
	var r specs.LinuxResources
	if err := json.Unmarshal([]byte(fullSpec), &r); err != nil {
		t.Fatal(err)
	}
	got, err := FromSpec(&r)
	if err != nil {
		t.Fatal(err)
	}
	want := &Resources{
		Devices: []*devcfg.Rule{
			{Type: devcfg.WildcardDevice, Major: -1, Minor: -1, Permissions: "rwm", Allow: false},
			{Type: devcfg.CharDevice, Major: 10, Minor: 200, Permissions: "rw", Allow: true},
		},
		Memory:                       64 << 20,
		MemoryReservation:            32 << 20,
		MemorySwap:                   128 << 20,
		MemorySwappiness:             ptr[uint64](30),
		OomKillDisable:               true,
		MemoryCheckBeforeUpdate:      true,
		CpuShares:                    512,
		CpuWeight:                    lib.ConvertCPUSharesToCgroupV2Value(512),
		CpuQuota:                     50000,
		CpuBurst:                     ptr[uint64](10000),
		CpuPeriod:                    100000,
		CpuRtPeriod:                  1000000,
		CpusetCpus:                   "0-1",
		CpusetMems:                   "0",
		CPUIdle:                      ptr[int64](1),
		PidsLimit:                    ptr[int64](64),
		BlkioWeight:                  300,
		BlkioLeafWeight:              200,
		BlkioWeightDevice:            []*lib.WeightDevice{lib.NewWeightDevice(8, 0, 500, 0)},
		BlkioThrottleReadBpsDevice:   []*lib.ThrottleDevice{lib.NewThrottleDevice(8, 0, 1048576)},
		BlkioThrottleWriteBpsDevice:  []*lib.ThrottleDevice{lib.NewThrottleDevice(8, 0, 2097152)},
		BlkioThrottleReadIOPSDevice:  []*lib.ThrottleDevice{lib.NewThrottleDevice(8, 0, 100)},
		BlkioThrottleWriteIOPSDevice: []*lib.ThrottleDevice{lib.NewThrottleDevice(8, 0, 200)},
		HugetlbLimit:                 []*lib.HugepageLimit{{Pagesize: "2MB", Limit: 4194304}},
		NetClsClassid:                1048577,
		NetPrioIfpriomap:             []*lib.IfPrioMap{{Interface: "eth0", Priority: 5}},
		Rdma:                         map[string]lib.LinuxRdma{"mlx5_1": {HcaHandles: ptr[uint32](3), HcaObjects: ptr[uint32](10000)}},
		Unified:                      map[string]string{"memory.high": "50000000"},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("FromSpec mismatch\n got: %s\nwant: %s", g, w)
	}
}

func TestFromSpecNilAndEmpty(t *testing.T) {
	for _, r := range []*specs.LinuxResources{nil, {}} {
		got, err := FromSpec(r)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &Resources{}) {
			t.Fatalf("FromSpec(%v) = %+v, want empty", r, got)
		}
	}
}

func TestFromSpecErrorsNameTheJSONPath(t *testing.T) {
	for _, tc := range []struct {
		json, path string
	}{
		{`{"memory": {"limit": -2}}`, "linux.resources.memory.limit"},
		{`{"memory": {"reservation": -5}}`, "linux.resources.memory.reservation"},
		{`{"memory": {"limit": 1000000, "swap": 1000}}`, "linux.resources.memory.swap"},
		{`{"memory": {"kernel": -7}}`, "linux.resources.memory.kernel"},
		{`{"memory": {"swappiness": 101}}`, "linux.resources.memory.swappiness"},
		{`{"cpu": {"shares": 1}}`, "linux.resources.cpu.shares"},
		{`{"cpu": {"shares": 262145}}`, "linux.resources.cpu.shares"},
		{`{"cpu": {"period": 999}}`, "linux.resources.cpu.period"},
		{`{"cpu": {"quota": 10}}`, "linux.resources.cpu.quota"},
		{`{"cpu": {"quota": -3}}`, "linux.resources.cpu.quota"},
		{`{"cpu": {"quota": 5000, "burst": 6000}}`, "linux.resources.cpu.burst"},
		{`{"cpu": {"realtimeRuntime": -2}}`, "linux.resources.cpu.realtimeRuntime"},
		{`{"cpu": {"realtimeRuntime": 20, "realtimePeriod": 10}}`, "linux.resources.cpu.realtimeRuntime"},
		{`{"cpu": {"cpus": "0-"}}`, "linux.resources.cpu.cpus"},
		{`{"cpu": {"cpus": "3-1"}}`, "linux.resources.cpu.cpus"},
		{`{"cpu": {"cpus": "0-99999999"}}`, "linux.resources.cpu.cpus"},
		{`{"cpu": {"mems": "a"}}`, "linux.resources.cpu.mems"},
		{`{"cpu": {"idle": 2}}`, "linux.resources.cpu.idle"},
		{`{"blockIO": {"weight": 5}}`, "linux.resources.blockIO.weight"},
		{`{"blockIO": {"leafWeight": 1001}}`, "linux.resources.blockIO.leafWeight"},
		{`{"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}}`, "linux.resources.blockIO.weightDevice[0]"},
		{`{"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 2000}]}}`, "linux.resources.blockIO.weightDevice[0].weight"},
		{`{"blockIO": {"throttleWriteIOPSDevice": [{"major": -1, "minor": 0, "rate": 1}]}}`, "linux.resources.blockIO.throttleWriteIOPSDevice[0].major"},
		{`{"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}`, "linux.resources.hugepageLimits[0].pageSize"},
		{`{"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "2MB", "limit": 2}]}`, "linux.resources.hugepageLimits[1].pageSize"},
		{`{"network": {"priorities": [{"name": "", "priority": 1}]}}`, "linux.resources.network.priorities[0].name"},
		{`{"rdma": {"": {}}}`, "linux.resources.rdma"},
		{`{"unified": {"memory.high/../x": "1"}}`, `linux.resources.unified["memory.high/../x"]`},
		{`{"unified": {"nodot": "1"}}`, `linux.resources.unified["nodot"]`},
		{`{"devices": [{"allow": true, "type": "x", "access": "rwm"}]}`, "linux.resources.devices[0].type"},
		{`{"devices": [{"allow": true, "access": ""}]}`, "linux.resources.devices[0].access"},
		{`{"devices": [{"allow": true}, {"allow": true, "access": "rw"}]}`, "linux.resources.devices[0].access"},
		{`{"devices": [{"allow": true, "access": "r"}, {"allow": true, "access": "rwx"}]}`, "linux.resources.devices[1].access"},
		{`{"devices": [{"allow": true, "major": -2, "access": "r"}]}`, "linux.resources.devices[0].major"},
	} {
		var r specs.LinuxResources
		if err := json.Unmarshal([]byte(tc.json), &r); err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		_, err := FromSpec(&r)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a FieldError", tc.json, err)
			continue
		}
		if fe.Path != tc.path || !strings.HasPrefix(err.Error(), tc.path+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q, want one line starting with %q", tc.json, err, tc.path)
		}
	}
}

// TestFromSpecReportsEveryError: conversion goes on past the first bad
// value, one FieldError per line.
func TestFromSpecReportsEveryError(t *testing.T) {
	var r specs.LinuxResources
	in := `{"memory": {"limit": -2, "swappiness": 101}, "cpu": {"shares": 1, "quota": 10, "cpus": "3-1"},
		"blockIO": {"weight": 5}, "unified": {"nodot": "1", "b/x": "1"}, "devices": [{"allow": true, "type": "x", "access": "rwx"}]}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	_, err := FromSpec(&r)
	var paths []string
	for _, line := range strings.Split(fmt.Sprint(err), "\n") {
		path, _, _ := strings.Cut(line, ": ")
		paths = append(paths, path)
	}
	want := []string{"linux.resources.devices[0].type", "linux.resources.devices[0].access",
		"linux.resources.memory.limit", "linux.resources.memory.swappiness",
		"linux.resources.cpu.shares", "linux.resources.cpu.quota", "linux.resources.cpu.cpus",
		"linux.resources.blockIO.weight", `linux.resources.unified["b/x"]`, `linux.resources.unified["nodot"]`}
	if !slices.Equal(paths, want) {
		t.Fatalf("FromSpec: %v\npaths %q, want %q", err, paths, want)
	}
}

func TestContainerResourcesAddsRuncDefaults(t *testing.T) {
	linux := &specs.Linux{
		Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: true, Type: "b", Major: ptr[int64](8), Access: "r"},
		}},
		// Redefining /dev/null drops its default rule, as in runc.
		Devices: []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}},
	}
	res, err := ContainerResources(linux)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Devices {
		verb := "deny"
		if r.Allow {
			verb = "allow"
		}
		got = append(got, verb+" "+r.CgroupString())
	}
	want := []string{
		"deny a *:* rwm",
		"allow b 8:* r",
		"allow c *:* m",
		"allow b *:* m",
		"allow c 1:8 rwm",
		"allow c 1:7 rwm",
		"allow c 5:0 rwm",
		"allow c 1:5 rwm",
		"allow c 1:9 rwm",
		"allow c 136:* rwm",
		"allow c 5:2 rwm",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("device rules\n got: %q\nwant: %q", got, want)
	}
	// The defaults are copied: changing the result must not change them.
	res.Devices[2].Permissions = "rwm"
	if DefaultDevices[0].Permissions != "m" {
		t.Fatal("ContainerResources aliased DefaultDevices")
	}
	if _, err := ContainerResources(nil); err != nil {
		t.Fatalf("ContainerResources(nil): %v", err)
	}
}

func TestMergeUpdate(t *testing.T) {
	cur, err := ContainerResources(&specs.Linux{Resources: &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](128 << 20)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Cpus: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cur.Freezer = lib.Frozen
	before, _ := json.Marshal(cur)

	next, err := MergeUpdate(cur, &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Swap: ptr[int64](256 << 20)},
		CPU:     &specs.LinuxCPU{Quota: ptr[int64](20000)},
		Unified: map[string]string{"memory.high": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if next.Memory != 64<<20 || next.MemorySwap != 256<<20 || next.CpuShares != 512 || next.CpuQuota != 20000 ||
		next.CpusetCpus != "0" || *next.PidsLimit != 10 || next.Unified["memory.high"] != "1" {
		t.Fatalf("merge kept or replaced the wrong fields: %+v", next)
	}
	if !next.SkipDevices || next.Freezer != lib.Undefined {
		t.Fatalf("update must skip devices and leave the freezer alone: skip=%v freezer=%q", next.SkipDevices, next.Freezer)
	}
	if after, _ := json.Marshal(cur); string(after) != string(before) {
		t.Fatal("MergeUpdate modified its input")
	}

	// The merged values are checked together: a swap total below the
	// existing memory limit is refused even though the update alone is fine.
	_, err = MergeUpdate(cur, &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr[int64](1 << 20)}})
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.memory.swap: ") {
		t.Fatalf("got %v, want a linux.resources.memory.swap error", err)
	}
	if _, err := MergeUpdate(cur, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1)}}); err == nil {
		t.Fatal("MergeUpdate accepted cpu.shares=1")
	}
}

func TestParseList(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": {0}, "0-2,5": {0, 1, 2, 5}, " 1 , 3-4": {1, 3, 4}} {
		got, err := parseList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{",", "1,,2", "-1", "1-", "x", "2-1", "8193"} {
		if _, err := parseList(in); err == nil {
			t.Errorf("parseList(%q) succeeded", in)
		}
	}
}

// TestValidPageSize checks the hand-written page size rule against the
// runtime-spec's pattern.
func TestValidPageSize(t *testing.T) {
	re := regexp.MustCompile(`^[1-9][0-9]*[KMGTP]B$`)
	sizes := []string{"", "B", "KB", "2MB", "1GB", "64KB", "16GB", "02MB", "0MB", "2mb", "2M", "2MiB", "2 MB", "-2MB", "2XB", "10000000TB", "1PB", "1EB", "2MBB", "2.5MB"}
	for c := 0; c < 256; c++ {
		sizes = append(sizes, string([]byte{byte(c)})+"MB", "2"+string([]byte{byte(c)})+"B", "12"+string([]byte{byte(c)}))
	}
	for _, s := range sizes {
		if got, want := validPageSize(s), re.MatchString(s); got != want {
			t.Errorf("validPageSize(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
