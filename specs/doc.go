// Package specs is the runtime-spec layer shared by berth and berth-image:
// loading and validating a bundle's config.json (LoadBundle, Validate,
// LoadProcess), the default config `berth spec` writes (Default,
// DefaultRootless, WriteSpec), and the name-to-kernel-value tables for
// capabilities, rlimits, namespaces and the other enumerations in the spec
// (CapabilityValue, RlimitResource, NamespaceCloneFlag, ...), so that no
// other package re-types them.
//
// Errors about a config are one line each and name the file and the JSON
// path of the offending value:
//
//	config.json: process.capabilities.bounding[2]: unknown capability "CAP_FOO"
//	config.json: linux.sysctl["vm.swappiness"]: "vm.swappiness" is not namespaced: setting it would change the host
//	config.json:3:14: invalid character '}' looking for beginning of object key string
//
// Validate reports all problems at once, one per line (errors.Join of
// *FieldError values).
//
// The package must stay cheap to import and free of cgo, and must not
// import libcontainer or imagetool: both programs depend on it.
package specs
