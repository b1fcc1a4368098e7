package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// busyboxRootfs makes dir/rootfs: the static busybox and the applets the
// benchmark runs, nothing else, so every runtime sets up the same tree.
func busyboxRootfs(dir, busybox string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return "", err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return "", fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		return "", err
	}
	for _, applet := range []string{"true", "sleep", "sh"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			return "", err
		}
	}
	return rootfs, nil
}

// writeBundle writes dir/config.json: berth's default spec (the same one
// `runc spec` makes, modulo ociVersion) running args without a terminal,
// with root.path pointing at the shared rootfs. ociVersion overrides the
// default when not empty (crun 1.8 refuses versions newer than it knows).
func writeBundle(berth, dir, rootfs string, args []string, ociVersion string) error {
	return writeBundleWith(berth, dir, rootfs, args, ociVersion, nil)
}

// writeBundleWith is writeBundle with edit applied to the config last.
func writeBundleWith(berth, dir, rootfs string, args []string, ociVersion string, edit func(cfg map[string]any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(berth, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s spec: %v: %s", berth, err, out)
	}
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	// A generic map keeps every field `berth spec` wrote, known or not.
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	proc, ok := cfg["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: process: missing from berth spec's output", cfgPath)
	}
	proc["terminal"] = false
	proc["args"] = args
	root, ok := cfg["root"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: root: missing from berth spec's output", cfgPath)
	}
	root["path"] = rootfs
	if ociVersion != "" {
		cfg["ociVersion"] = ociVersion
	}
	if edit != nil {
		edit(cfg)
	}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(cfgPath, out, 0o644)
}

// podmanSeccomp is podman's default seccomp profile
// (/usr/share/containers/seccomp.json, containers-common's format) as podman
// hands it to a runtime for an amd64 container with the default
// capabilities: the entries that need a capability dropped, those that
// apply without one kept, for x86_64 and its 32-bit sub-architectures.
func podmanSeccomp(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type rule struct {
		Names    []string         `json:"names"`
		Action   string           `json:"action"`
		Args     []map[string]any `json:"args,omitempty"`
		ErrnoRet *uint            `json:"errnoRet,omitempty"`
		Includes struct {
			Caps   []string `json:"caps"`
			Arches []string `json:"arches"`
		} `json:"includes"`
	}
	var p struct {
		DefaultAction   string `json:"defaultAction"`
		DefaultErrnoRet *uint  `json:"defaultErrnoRet"`
		Syscalls        []rule `json:"syscalls"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rules []any
	for _, r := range p.Syscalls {
		if len(r.Includes.Caps) > 0 || (len(r.Includes.Arches) > 0 && !slices.Contains(r.Includes.Arches, "amd64")) {
			continue
		}
		out := map[string]any{"names": r.Names, "action": r.Action}
		if len(r.Args) > 0 {
			out["args"] = r.Args
		}
		if r.ErrnoRet != nil {
			out["errnoRet"] = *r.ErrnoRet
		}
		rules = append(rules, out)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no rules for amd64", path)
	}
	profile := map[string]any{"defaultAction": p.DefaultAction, "syscalls": rules,
		"architectures": []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}}
	if p.DefaultErrnoRet != nil {
		profile["defaultErrnoRet"] = *p.DefaultErrnoRet
	}
	return profile, nil
}
