package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
