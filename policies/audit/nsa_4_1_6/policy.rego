package audit.nsa_4_1_6

import data.lib.audit

control := "NSA-4.1.6"

deny contains audit.cluster_finding(control, "no service mesh: no Istio control plane (istiod Deployment) found") if {
	not audit.istiod_found
}

deny contains audit.cluster_finding(control, concat("", ["access logging is not on mesh-wide: no Telemetry in ", audit.mesh_root, " without a selector logs to a provider, and MeshConfig sets no accessLogFile"])) if {
	audit.istiod_found
	not audit.mesh_access_logging
}

# A namespace- or workload-level Telemetry that switches access logging off wins over the
# mesh-wide one for what it selects.
deny contains audit.cluster_finding(control, concat("", ["Telemetry ", t.metadata.namespace, "/", t.metadata.name, " turns access logging off"])) if {
	some t in audit.objects_of("Telemetry")
	some entry in t.spec.accessLogging
	entry.disabled == true
}

# Without mutual TLS the mesh's logs name addresses, not the workloads' identities.
deny contains audit.cluster_finding(control, concat("", ["no mesh-wide PeerAuthentication with mtls.mode STRICT in ", audit.mesh_root])) if {
	audit.istiod_found
	not audit.mesh_strict_mtls
}
