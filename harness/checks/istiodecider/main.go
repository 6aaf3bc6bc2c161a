// Command istiodecider answers, for each pod it is given, what Istio itself decides:
// whether the pod gets a sidecar and which mTLS mode its inbound traffic has. It is the
// oracle of the harness's Istio run (harness/checks/istiooracle.py) for NSA-2.6, and runs
// Istio's own code from istio.io/istio (the version go.mod pins):
//
//   - The installation: Istio's istio-discovery Helm chart, rendered by
//     operator/pkg/helm.Render as istioctl renders it, once per installed revision. Its
//     MutatingWebhookConfiguration gives the injection webhooks' namespace and object
//     selectors, its istio-sidecar-injector ConfigMap the injector's Config
//     (inject.UnmarshalConfig: the policy and the never/always selectors).
//   - Selection: a webhook is called when its namespaceSelector matches the namespace's
//     labels and its objectSelector the pod's labels, each read with
//     metav1.LabelSelectorAsSelector, as kube-apiserver's webhook predicates read them
//     (k8s.io/apiserver pkg/admission/plugin/webhook/predicates).
//   - Injection: pkg/kube/inject's injectRequired, as the webhook calls it.
//   - mTLS: pilot/pkg/model's AuthenticationPolicies (addPeerAuthentication,
//     GetPeerAuthenticationsForWorkload) and pilot/pkg/security/authn's
//     ComposePeerAuthentication, as istiod composes a workload's policy.
//
// injectRequired and AuthenticationPolicies' constructor are unexported; the two
// overlay_*.go.in files add one exported wrapper each to Istio's packages at build time
// (go build -overlay), so the code that runs is Istio's, unchanged.
//
// It reads one JSON document on standard input:
//
//	{"installations": [{"revisions": ["default", ...], "root_namespace": "istio-system"}],
//	 "cases": [{"installation": 0, "namespace": Namespace, "pod": Pod,
//	            "peer_authentications": [PeerAuthentication, ...]}, ...]}
//
// with objects as kube-apiserver stores them, and writes one JSON array of answers, one
// per case: {"injected": bool, "webhooks": [names], "mode": "STRICT", "ports": {...}}.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	securityv1beta1 "istio.io/api/security/v1beta1"
	"istio.io/istio/operator/pkg/helm"
	"istio.io/istio/operator/pkg/values"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/security/authn"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/util/protomarshal"
)

type installation struct {
	Revisions     []string `json:"revisions"`
	RootNamespace string   `json:"root_namespace"`
}

type peerAuthentication struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     json.RawMessage   `json:"spec"`
}

type caseInput struct {
	Installation        int                  `json:"installation"`
	Namespace           corev1.Namespace     `json:"namespace"`
	Pod                 corev1.Pod           `json:"pod"`
	PeerAuthentications []peerAuthentication `json:"peer_authentications"`
}

type request struct {
	Installations []installation `json:"installations"`
	Cases         []caseInput    `json:"cases"`
}

type answer struct {
	Injected bool              `json:"injected"`
	Webhooks []string          `json:"webhooks"`
	Mode     string            `json:"mode"`
	Ports    map[string]string `json:"ports"`
}

// revisionHook is one injection webhook of a revision's installation, with the
// injector configuration its istiod runs.
type revisionHook struct {
	webhook  admissionv1.MutatingWebhook
	injector *inject.Config
}

// render installs one revision ("default" is Istio's default revision, installed with
// revision ""), as istioctl renders the istio-discovery chart.
func render(revision string) ([]revisionHook, error) {
	chartRevision := revision
	if revision == "default" {
		chartRevision = ""
	}
	iop := values.Map{"spec": map[string]any{"values": map[string]any{"revision": chartRevision}}}
	manifests, _, err := helm.Render("istio", "istio-system", "istio-control/istio-discovery", iop, nil)
	if err != nil {
		return nil, fmt.Errorf("rendering revision %q: %w", revision, err)
	}
	var hooks []admissionv1.MutatingWebhook
	var injector *inject.Config
	for _, m := range manifests {
		switch m.GetKind() {
		case "MutatingWebhookConfiguration":
			var mwc admissionv1.MutatingWebhookConfiguration
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.Object, &mwc); err != nil {
				return nil, err
			}
			hooks = append(hooks, mwc.Webhooks...)
		case "ConfigMap":
			data, _, _ := unstructuredString(m.Object, "data", "config")
			if data == "" || !isInjectorConfigMap(m.GetName()) {
				continue
			}
			cfg, err := inject.UnmarshalConfig([]byte(data))
			if err != nil {
				return nil, fmt.Errorf("revision %q injector config: %w", revision, err)
			}
			injector = &cfg
		}
	}
	if len(hooks) == 0 || injector == nil {
		return nil, fmt.Errorf("revision %q: the chart rendered no injection webhook or injector config", revision)
	}
	out := make([]revisionHook, len(hooks))
	for i, h := range hooks {
		out[i] = revisionHook{webhook: h, injector: injector}
	}
	return out, nil
}

func isInjectorConfigMap(name string) bool {
	return len(name) >= len("istio-sidecar-injector") && name[:len("istio-sidecar-injector")] == "istio-sidecar-injector"
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func selects(selector *metav1.LabelSelector, set map[string]string) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(set)), nil
}

func toConfigs(pas []peerAuthentication) ([]config.Config, error) {
	out := make([]config.Config, 0, len(pas))
	for _, pa := range pas {
		spec := &securityv1beta1.PeerAuthentication{}
		if len(pa.Spec) > 0 && string(pa.Spec) != "null" {
			if err := protomarshal.UnmarshalAllowUnknown(pa.Spec, spec); err != nil {
				return nil, fmt.Errorf("PeerAuthentication %s/%s: %w", pa.Metadata.Namespace, pa.Metadata.Name, err)
			}
		}
		out = append(out, config.Config{
			Meta: config.Meta{
				GroupVersionKind:  gvk.PeerAuthentication,
				Name:              pa.Metadata.Name,
				Namespace:         pa.Metadata.Namespace,
				CreationTimestamp: pa.Metadata.CreationTimestamp.Time,
			},
			Spec: spec,
		})
	}
	return out, nil
}

func decide(hooks []revisionHook, root string, c caseInput) (answer, error) {
	a := answer{Webhooks: []string{}, Ports: map[string]string{}}
	pod := c.Pod
	if pod.Namespace == "" {
		pod.Namespace = c.Namespace.Name // the webhook fills it in from the request
	}
	for _, h := range hooks {
		nsOK, err := selects(h.webhook.NamespaceSelector, c.Namespace.Labels)
		if err != nil {
			return a, err
		}
		objOK, err := selects(h.webhook.ObjectSelector, pod.Labels)
		if err != nil {
			return a, err
		}
		if !nsOK || !objOK {
			continue
		}
		a.Webhooks = append(a.Webhooks, h.webhook.Name)
		if inject.PacHarnessInjectRequired(h.injector, &pod.Spec, pod.ObjectMeta) {
			a.Injected = true
		}
	}
	configs, err := toConfigs(c.PeerAuthentications)
	if err != nil {
		return a, err
	}
	applicable := model.PacHarnessPeerAuthenticationsForWorkload(root, configs, pod.Namespace, pod.Labels)
	merged := authn.ComposePeerAuthentication(root, applicable)
	a.Mode = merged.Mode.String()
	for port, mode := range merged.PerPort {
		a.Ports[fmt.Sprint(port)] = mode.String()
	}
	return a, nil
}

func run() error {
	// Istio logs to standard output by default; the answers go there.
	opts := log.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	if err := log.Configure(opts); err != nil {
		return err
	}
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	installed := make([][]revisionHook, len(req.Installations))
	rendered := map[string][]revisionHook{}
	for i, inst := range req.Installations {
		revisions := append([]string(nil), inst.Revisions...)
		sort.Strings(revisions)
		for _, r := range revisions {
			if _, ok := rendered[r]; !ok {
				hooks, err := render(r)
				if err != nil {
					return err
				}
				rendered[r] = hooks
			}
			installed[i] = append(installed[i], rendered[r]...)
		}
	}
	answers := make([]answer, 0, len(req.Cases))
	for i, c := range req.Cases {
		if c.Installation < 0 || c.Installation >= len(installed) {
			return fmt.Errorf("case %d: no installation %d", i, c.Installation)
		}
		a, err := decide(installed[c.Installation], req.Installations[c.Installation].RootNamespace, c)
		if err != nil {
			return fmt.Errorf("case %d: %w", i, err)
		}
		answers = append(answers, a)
	}
	return json.NewEncoder(os.Stdout).Encode(answers)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "istiodecider:", err)
		os.Exit(1)
	}
}
