# All node-configuration controls as one decision: what the gate before kubelet runs
# (thesis figure 6.28).
package nodecheck

deny contains msg if {
	some name
	some msg in data.node[name].deny
}
