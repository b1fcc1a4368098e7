package main

// Examples of the build, ship and bundle commands (see help.go).
func init() {
	repack := []string{
		"berth-image repack --image localhost:5000/team/app:v2 ./bundle",
		"berth-image commit --image app:v2 --compress zstd --author me --message \"add site\" ./bundle",
	}
	more := map[string][]string{
		"repack": repack,
		"commit": repack,
		"config": {
			"berth-image config app:v2 --env MODE=prod --workdir /srv --expose 8080",
			"berth-image config app:v2 --entrypoint '[\"/bin/httpd\", \"-f\"]' --tag app:v3",
		},
		"insert": {
			"berth-image insert app:v2 ./httpd.conf /etc/httpd.conf",
			"berth-image insert --whiteout app:v2 - /etc/motd",
		},
		"tag":       {"berth-image tag app:v2 localhost:5000/team/app:v2"},
		"push":      {"berth-image push localhost:5000/team/app:v2", "berth-image push --creds me app:v2 docker://reg.example/team/app:v2"},
		"unbundle":  {"berth-image unbundle ./bundle"},
		"rm-bundle": {"berth-image rm-bundle ./bundle"},
	}
	for k, v := range more {
		commandExamples[k] = v
	}
}
