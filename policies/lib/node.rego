# Helpers for node-configuration (NC) policies. Their input is a node snapshot
# (harness/node.py): static pod manifests with parsed flags, the kubelet config and the
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
