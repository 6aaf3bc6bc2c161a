// Command netpolmatcher answers, for each pod it is given, what cyclonus v0.5.6's
// NetworkPolicy matcher (github.com/mattfenwick/cyclonus/pkg/matcher) decides: whether
// some policy selects the pod for ingress and for egress (the pod is isolated in that
// direction), and whether one of those policies lets all traffic of the direction
// through (cyclonus's AllPeersPorts matcher: a rule with no peers and no ports).
//
// Which pods a policy selects is Kubernetes' own LabelSelector semantics
// (k8s.io/apimachinery's LabelSelectorAsSelector, as kube-router and the API server read
// selectors), not cyclonus's kube.IsLabelsMatchLabelSelector: cyclonus v0.5.6 has NotIn
// fail on a pod without the key (pkg/kube/labelselector.go), where Kubernetes has it hold
// (apimachinery pkg/labels/selector.go, Requirement.Matches).
//
// It also answers whether given connections are allowed (cyclonus's
// Policy.IsIngressOrEgressAllowed, with the same selection of pods): the live probes on a
// cluster's network plugin compare these answers with what the plugin did.
//
// It reads one JSON document on standard input:
//
//	{"policies": [NetworkPolicy, ...], "pods": [{"namespace": "...", "labels": {...}}, ...],
//	 "traffic": [{"source": peer, "destination": peer, "port": 8080}, ...]}
//
// (a peer: {"namespace", "labels", "namespace_labels", "ip"}; without a namespace, an
// address outside the cluster), with the policies as the
// API server stored them, and writes {"pods": [answer per pod], "traffic": [{"ingress":
// allowed, "egress": allowed} per connection]}, in order. The harness's NetworkPolicy
// oracle (harness/checks/netpoloracle.py) compares them with NSA-2.2's verdicts.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

type pod struct {
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type peer struct {
	Namespace       string            `json:"namespace"`
	Labels          map[string]string `json:"labels"`
	NamespaceLabels map[string]string `json:"namespace_labels"`
	IP              string            `json:"ip"`
}

type connection struct {
	Source      peer `json:"source"`
	Destination peer `json:"destination"`
	Port        int  `json:"port"`
}

type request struct {
	Policies []*networkingv1.NetworkPolicy `json:"policies"`
	Pods     []pod                         `json:"pods"`
	Traffic  []connection                  `json:"traffic"`
}

type allowed struct {
	Ingress bool `json:"ingress"` // the destination's policies let it in
	Egress  bool `json:"egress"`  // the source's policies let it out
}

type response struct {
	Pods    []answer  `json:"pods"`
	Traffic []allowed `json:"traffic"`
}

type direction struct {
	Isolated bool     `json:"isolated"`
	AllowAll bool     `json:"allow_all"`
	Policies []string `json:"policies"` // the policies that select the pod in this direction
}

type answer struct {
	Ingress direction `json:"ingress"`
	Egress  direction `json:"egress"`
}

// applying is matcher.Policy.TargetsApplyingToPod with Kubernetes' selector semantics.
func applying(policy *matcher.Policy, p pod, ingress bool) []*matcher.Target {
	targets := policy.Egress
	if ingress {
		targets = policy.Ingress
	}
	var found []*matcher.Target
	for _, target := range targets {
		selector, err := metav1.LabelSelectorAsSelector(&target.PodSelector)
		if err != nil {
			fmt.Fprintf(os.Stderr, "netpolmatcher: pod selector of %s: %v\n", target.GetPrimaryKey(), err)
			os.Exit(2)
		}
		if target.Namespace == p.Namespace && selector.Matches(labels.Set(p.Labels)) {
			found = append(found, target)
		}
	}
	return found
}

func judge(policy *matcher.Policy, p pod, ingress bool) direction {
	var d direction
	names := map[string]bool{}
	for _, target := range applying(policy, p, ingress) {
		d.Isolated = true
		for _, peer := range target.Peers {
			if peer == matcher.AllPeersPorts {
				d.AllowAll = true
			}
		}
		for _, rule := range target.SourceRules {
			names[rule.Name] = true
		}
	}
	d.Policies = []string{}
	for name := range names {
		d.Policies = append(d.Policies, name)
	}
	sort.Strings(d.Policies)
	return d
}

// trafficPeer is a pod, or with no namespace an address outside the cluster (a cloud's
// metadata endpoint), which only ipBlock peers and rules without peers reach.
func trafficPeer(p peer) *matcher.TrafficPeer {
	if p.Namespace == "" {
		return &matcher.TrafficPeer{IP: p.IP}
	}
	internal := &matcher.InternalPeer{PodLabels: p.Labels, NamespaceLabels: p.NamespaceLabels, Namespace: p.Namespace}
	return &matcher.TrafficPeer{Internal: internal, IP: p.IP}
}

// allows is Policy.IsIngressOrEgressAllowed for a pod inside the cluster: allowed when no
// policy selects the pod in that direction, or when one that does has a rule admitting
// the other end on the port (TCP).
func allows(policy *matcher.Policy, target peer, other peer, port int, ingress bool) bool {
	targets := applying(policy, pod{Namespace: target.Namespace, Labels: target.Labels}, ingress)
	if len(targets) == 0 {
		return true
	}
	for _, t := range targets {
		if t.Allows(trafficPeer(other), port, "", corev1.ProtocolTCP) {
			return true
		}
	}
	return false
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "netpolmatcher: reading the request: %v\n", err)
		os.Exit(2)
	}
	// Unsimplified: Simplify would merge matchers, and AllPeersPorts must stay visible.
	policy := matcher.BuildNetworkPolicies(false, req.Policies)
	out := response{Pods: make([]answer, 0, len(req.Pods)), Traffic: make([]allowed, 0, len(req.Traffic))}
	for _, p := range req.Pods {
		out.Pods = append(out.Pods, answer{Ingress: judge(policy, p, true), Egress: judge(policy, p, false)})
	}
	for _, c := range req.Traffic {
		out.Traffic = append(out.Traffic, allowed{
			Ingress: allows(policy, c.Destination, c.Source, c.Port, true),
			Egress:  allows(policy, c.Source, c.Destination, c.Port, false),
		})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "netpolmatcher: writing the answers: %v\n", err)
		os.Exit(2)
	}
}
