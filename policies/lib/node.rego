# Helpers for node-configuration (NC) policies. Their input is a node snapshot
# (harness/model/node.py): static pod manifests with parsed flags, the kubelet config and the
# owner and mode of every kubeconfig file.
package lib.node

apiserver := "kube-apiserver"

# The last value a component was given for a flag (what the component uses).
flag(component, name) := input.static_pods[component].flags[name]

# Every value of every occurrence of a flag, comma lists split. Returned as the array
# itself: rego-cpp treats function arguments used as keys inside a comprehension as
# unbound (it returned the values of every flag), so no comprehension here.
# A flag that is not given has no values (never undefined: `not x in f(...)` on an
# undefined f is itself undefined in OPA).
flag_values(component, name) := values if {
	values := input.static_pods[component].flag_values[name]
} else := []

manifest(component) := input.static_pods[component].path

missing(component) if not input.static_pods[component].present

missing(component) if input.static_pods[component].error

flag_is(component, name, value) if flag(component, name) == value

flag_set(component, name) if flag(component, name) != ""

# A static pod manifest that is missing or unreadable fails every check that needs it.
absent_manifest(control, component) := concat("", ["[", control, "] ", component, " (", manifest(component), "): manifest missing or unreadable"]) if {
	missing(component)
}

finding(control, component, text) := concat("", ["[", control, "] ", component, " (", manifest(component), "): ", text])

must_be(control, component, name, value) := finding(control, component, concat("", ["--", name, " must be ", value, " (is ", object.get(input.static_pods[component].flags, name, "unset"), ")"])) if {
	not missing(component)
	not flag_is(component, name, value)
}

must_be_set(control, component, name) := finding(control, component, concat("", ["--", name, " must be set"])) if {
	not missing(component)
	not flag_set(component, name)
}

must_include(control, component, name, value) := finding(control, component, concat("", ["--", name, " must include ", value])) if {
	not missing(component)
	not value in flag_values(component, name)
}

# The EncryptionConfiguration the API server reads (--encryption-provider-config). For a
# resource, the first entry whose list names it applies, and that entry's first provider
# writes; the others only read. "*." is every core resource, "*.*" every resource.
encryption := object.get(input, "encryption_config", {})

encryption_unreadable if {
	encryption.path != ""
	not encryption.present
}

encryption_unreadable if encryption.error

secret_entries := [entry |
	some entry in object.get(object.get(encryption, "config", {}), "resources", [])
	some r in entry.resources
	r in {"secrets", "*.", "*.*"}
]

# The provider that writes Secrets, as {"name": ..., "settings": ...}; undefined when no
# entry names them (they are stored as they are).
secrets_writer := {"name": name, "settings": settings} if {
	some name, settings in secret_entries[0].providers[0]
}

encryption_finding(control, text) := finding(control, apiserver, concat("", ["encryption config ", encryption.path, ": ", text]))

# (Without a manifest there is no flag, so nothing here fires beside absent_manifest.)
unreadable_encryption(control) := encryption_finding(control, "missing or unreadable") if {
	encryption_unreadable
}

secrets_unlisted(control) := encryption_finding(control, "no resources entry lists secrets, so they are stored as written") if {
	flag_set(apiserver, "encryption-provider-config")
	not encryption_unreadable
	not secrets_writer
}
