package node.nsa_4_1_7

import data.lib.node

control := "NSA-4.1.7"

deny contains node.absent_manifest(control, node.apiserver)

# The guidance asks for two things of a log that must survive faults: a local copy when
# the external service is unreachable, and the oldest files giving way when storage is
# full. Events sent only to the audit webhook are lost while the backend is down.
deny contains node.finding(control, node.apiserver, "no local audit log: set --audit-log-path, so that events outlive an outage of a remote backend") if {
	not node.missing(node.apiserver)
	not node.flag_set(node.apiserver, "audit-log-path")
}

# A log file (not "-", standard output, which the kubelet rotates as container logs)
# rotates only with a size limit, and frees space only with a limit on kept files.
rotation := {
	"audit-log-maxsize": "the log never rotates and grows until its disk is full",
	"audit-log-maxbackup": "every rotated file is kept, so the disk still fills",
}

deny contains node.finding(control, node.apiserver, concat("", ["--", name, " must be more than 0 (is ", object.get(input.static_pods[node.apiserver].flags, name, "unset"), "): otherwise ", why])) if {
	log_file
	some name, why in rotation
	not positive_count(object.get(input.static_pods[node.apiserver].flags, name, "0"))
}

log_file if {
	node.flag_set(node.apiserver, "audit-log-path")
	not node.flag_is(node.apiserver, "audit-log-path", "-")
}

# Not zero. The flags are Go ints read with base 0 ("100", "0x64", "1_000" all count),
# and the API server refuses to start on a negative one, so any spelling other than a
# zero is a limit.
positive_count(s) if trim(lower(s), "+-_0box") != ""
