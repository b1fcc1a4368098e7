package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/imagetool/build"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// configFlags are the changes `config` makes to an image's config.
type configFlags struct {
	env, labels, expose, volumes, clear listFlag
	entrypoint, cmd                     argvFlag
	workdir, user, stopSignal, author   optString
	tag                                 string
}

// optString tells "not given" from "given empty".
type optString struct {
	set bool
	v   string
}

func (o *optString) String() string     { return o.v }
func (o *optString) Set(s string) error { o.set, o.v = true, s; return nil }

func init() {
	cf := &configFlags{}
	register(&command{
		Name:    "config",
		Args:    "REF",
		Summary: "change the config of a stored image (env, entrypoint, cmd, ...) without touching its layers",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&cf.env, "env", "set `KEY=VALUE` in Env (repeatable; replaces KEY)")
			fs.Var(&cf.labels, "label", "set label `KEY=VALUE` (repeatable)")
			fs.Var(&cf.expose, "expose", "add an exposed `PORT[/PROTO]` (repeatable)")
			fs.Var(&cf.volumes, "volume", "add a volume `PATH` (repeatable)")
			fs.Var(&cf.clear, "clear", "empty `FIELD` first: env, labels, exposed-ports, volumes, entrypoint or cmd (repeatable)")
			fs.Var(&cf.entrypoint, "entrypoint", "set Entrypoint (`ARGS`: a JSON array or words)")
			fs.Var(&cf.cmd, "cmd", "set Cmd (`ARGS`: a JSON array or words)")
			fs.Var(&cf.workdir, "workdir", "set WorkingDir to `DIR`")
			fs.Var(&cf.user, "user", "set User to `USER[:GROUP]`")
			fs.Var(&cf.stopSignal, "stop-signal", "set StopSignal to `SIGNAL`")
			fs.Var(&cf.author, "author", "set the image's author to `NAME`")
			fs.StringVar(&cf.tag, "tag", "", "record the new image as `REF` instead of replacing the one changed")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 1, "REF"); err != nil {
				return err
			}
			return runConfig(g, cf, args[0])
		},
	})
}

var configFields = map[string]string{
	"env": "Env", "labels": "Labels", "exposed-ports": "ExposedPorts", "volumes": "Volumes", "entrypoint": "Entrypoint", "cmd": "Cmd",
}

func runConfig(g *Globals, cf *configFlags, ref string) error {
	s, base, name, err := g.imageToChange(ref, cf.tag)
	if err != nil {
		return err
	}
	unlock, err := s.RLock()
	if err != nil {
		return err
	}
	defer unlock()
	img, err := build.Open(s, base)
	if err != nil {
		return err
	}
	for _, c := range cf.clear {
		field, ok := configFields[c]
		if !ok {
			return usagef("--clear %q: want env, labels, exposed-ports, volumes, entrypoint or cmd", c)
		}
		img.Set(field, nil)
	}
	var env []string
	if err := img.Get("Env", &env); err != nil {
		return err
	}
	for _, kv := range cf.env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--env %q: want KEY=VALUE", kv)
		}
		kept := env[:0]
		for _, e := range env {
			if ek, _, _ := strings.Cut(e, "="); ek != k {
				kept = append(kept, e)
			}
		}
		env = append(kept, kv)
	}
	if len(cf.env) > 0 {
		img.Set("Env", env)
	}
	if err := setMap(img, "Labels", cf.labels, func(s string) (string, string, error) {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return "", "", usagef("--label %q: want KEY=VALUE", s)
		}
		return k, v, nil
	}); err != nil {
		return err
	}
	for _, set := range []struct {
		field string
		vals  listFlag
		check func(string) (string, error)
	}{
		{"ExposedPorts", cf.expose, exposedPort},
		{"Volumes", cf.volumes, func(p string) (string, error) {
			if !strings.HasPrefix(p, "/") {
				return "", usagef("--volume %q: want an absolute path", p)
			}
			return p, nil
		}},
	} {
		if len(set.vals) == 0 {
			continue
		}
		m := map[string]struct{}{}
		if err := img.Get(set.field, &m); err != nil {
			return err
		}
		for _, v := range set.vals {
			k, err := set.check(v)
			if err != nil {
				return err
			}
			m[k] = struct{}{}
		}
		img.Set(set.field, m)
	}
	if cf.entrypoint.set {
		img.Set("Entrypoint", cf.entrypoint.value())
	}
	if cf.cmd.set {
		img.Set("Cmd", cf.cmd.value())
	}
	for field, o := range map[string]optString{"WorkingDir": cf.workdir, "User": cf.user, "StopSignal": cf.stopSignal} {
		if o.set {
			img.Set(field, o.v)
		}
	}
	if cf.author.set {
		img.SetAuthor(cf.author.v)
	}
	now := time.Now().UTC()
	img.AddHistory(ocispec.History{Created: &now, CreatedBy: "berth-image config", Author: cf.author.v})
	desc, err := img.Commit(name, now)
	if err != nil {
		return err
	}
	return g.printBuilt(name, build.Result{Manifest: desc})
}

// setMap adds KEY=VALUE pairs to a map field of the config.
func setMap(img *build.Image, field string, vals []string, parse func(string) (string, string, error)) error {
	if len(vals) == 0 {
		return nil
	}
	m := map[string]string{}
	if err := img.Get(field, &m); err != nil {
		return err
	}
	for _, v := range vals {
		k, val, err := parse(v)
		if err != nil {
			return err
		}
		m[k] = val
	}
	return img.Set(field, m)
}

// exposedPort checks PORT[/tcp|udp|sctp] and adds /tcp when left out.
func exposedPort(s string) (string, error) {
	port, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != port {
		return "", usagef("--expose %q: want PORT[/PROTO] with PORT 1-65535", s)
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", usagef("--expose %q: protocol %q: want tcp, udp or sctp", s, proto)
	}
	return port + "/" + proto, nil
}
