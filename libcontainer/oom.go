package libcontainer

// OOMKills is how many of the container's processes the kernel has killed
// for lack of memory in its cgroup, for `berth events`.
func (c *Container) OOMKills() (uint64, error) {
	cg, err := c.cgroup()
	if err != nil {
		return 0, err
	}
	return cg.OOMKillCount()
}
