package nsenter

import (
	"fmt"
	"strconv"
	"strings"
)

// Plan is the parent's description of what the C stage must do, in order.
type Plan struct {
	steps []string
}

// Join adds setns(fd) for a namespace file the child inherits as fd.
func (p *Plan) Join(fd int) { p.steps = append(p.steps, "join:"+strconv.Itoa(fd)) }

// BecomeRoot switches to uid and gid 0, after joining a user namespace.
func (p *Plan) BecomeRoot() { p.steps = append(p.steps, "root") }

// Unshare adds unshare(flags). With CLONE_NEWUSER the parent is asked to
// write the id maps before the child goes on.
func (p *Plan) Unshare(flags uintptr) {
	if flags != 0 {
		p.steps = append(p.steps, "unshare:"+strconv.FormatUint(uint64(flags), 10))
	}
}

// TimeOffset adds an offset for a time namespace unshared just before.
func (p *Plan) TimeOffset(clock string, secs int64, nanos uint32) {
	p.steps = append(p.steps, fmt.Sprintf("timens:%s:%d:%d", clock, secs, nanos))
}

// Fork makes the rest of the process run in a child, so that it is inside
// pid and time namespaces entered or created before.
func (p *Plan) Fork() { p.steps = append(p.steps, "fork") }

// Empty reports whether the plan has nothing to do.
func (p *Plan) Empty() bool { return len(p.steps) == 0 }

// Env returns the environment entries that switch the C stage on; syncFD
// is the child's fd number of its end of the sync socket.
func (p *Plan) Env(syncFD int) []string {
	return []string{
		"_BERTH_NSENTER=" + strings.Join(p.steps, ";"),
		"_BERTH_NSSYNC=" + strconv.Itoa(syncFD),
	}
}
