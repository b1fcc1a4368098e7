// Command hello is the demo image's program: it prints what a process sees
// inside a container (environment, user, cwd, hostname, namespaces).
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	host, _ := os.Hostname()
	cwd, _ := os.Getwd()
	groups, _ := os.Getgroups()
	fmt.Printf("hello from %s (pid %d)\n", host, os.Getpid())
	fmt.Printf("  args:  %q\n", os.Args)
	fmt.Printf("  user:  uid=%d gid=%d groups=%v\n", os.Getuid(), os.Getgid(), groups)
	fmt.Printf("  cwd:   %s\n", cwd)
	env := os.Environ()
	sort.Strings(env)
	fmt.Printf("  env:   %s\n", strings.Join(env, " "))
	var ns []string
	for _, n := range []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		if link, err := os.Readlink("/proc/self/ns/" + n); err == nil {
			ns = append(ns, link)
		}
	}
	fmt.Printf("  namespaces: %s\n", strings.Join(ns, " "))
}
