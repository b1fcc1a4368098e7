package libcontainer

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer/hooks"
	"github.com/berthproject/berth/libcontainer/rootfs"
)

// setupFilesystem builds the container's filesystem in three phases, with
// the hooks the spec places between them: prestart and createRuntime (run
// by the runtime) and createContainer (run here, in the container's
// namespaces but before pivot_root).
func setupFilesystem(cfg *initConfig, sock *syncSocket) error {
	spec := cfg.Spec
	rc := &rootfs.Config{
		Spec: spec, Rootfs: cfg.Rootfs, Bundle: cfg.State.Bundle, NoPivot: cfg.NoPivot,
		UserNS: cfg.UserNS, HostMountNS: !hasNamespace(spec, specs.MountNamespace), CgroupMounts: cfg.CgroupMounts, Cgroup2Path: cfg.Cgroup2Path,
		MountSources: cfg.MountSources,
	}
	if !filepath.IsAbs(rc.Rootfs) {
		rc.Rootfs = filepath.Join(rc.Bundle, rc.Rootfs)
	}
	if err := rootfs.Prepare(rc); err != nil {
		return err
	}
	if cfg.RuntimeHooks {
		if err := sock.send(&syncMsg{Type: syncMounted}); err != nil {
			return err
		}
		if _, _, err := sock.expect(syncHooksDone); err != nil {
			return err
		}
	}
	if spec.Hooks != nil && len(spec.Hooks.CreateContainer) > 0 {
		if err := hooks.Run("createContainer", spec.Hooks.CreateContainer, hookState(cfg, specs.StateCreating)); err != nil {
			return err
		}
	}
	if err := rootfs.Pivot(rc); err != nil {
		return err
	}
	if err := rootfs.Finish(rc); err != nil {
		return err
	}
	return setPersonality(spec.Linux.Personality)
}
