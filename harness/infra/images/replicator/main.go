// Command replicator does kube-mgmt's replication job inside a cluster: it lists and
// watches the kinds the policies consult and mirrors them into OPA's data API, in
// kube-mgmt's layout (<path>/<resource>/<namespace>/<name>, or <path>/<resource>/<name>
// for cluster-scoped kinds). It takes kube-mgmt's flags, so the Deployment is the same
// with either image. kube-mgmt itself cannot be built from the Go module proxy our
// machines reach; this program uses only the standard library.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

const serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

// watchSeconds bounds each watch; the loop then continues from the last version seen.
const watchSeconds = 60

type kind struct {
	group, version, resource string
	namespaced               bool
}

func (k kind) collection() string {
	if k.group == "" {
		return "/api/" + k.version + "/" + k.resource
	}
	return "/apis/" + k.group + "/" + k.version + "/" + k.resource
}

type listFlag struct {
	kinds      *[]kind
	namespaced bool
}

func (f listFlag) String() string { return "" }

// Set parses kube-mgmt's [group/]version/resource.
func (f listFlag) Set(value string) error {
	parts := strings.Split(value, "/")
	k := kind{namespaced: f.namespaced}
	switch len(parts) {
	case 2:
		k.version, k.resource = parts[0], parts[1]
	case 3:
		k.group, k.version, k.resource = parts[0], parts[1], parts[2]
	default:
		return fmt.Errorf("%q is not [group/]version/resource", value)
	}
	*f.kinds = append(*f.kinds, k)
	return nil
}

type client struct {
	http *http.Client
	base string
	auth func() string
}

func (c client) do(method, path string, body any) (*http.Response, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.auth != nil {
		req.Header.Set("Authorization", c.auth())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(text))
	}
	return resp, nil
}

func (c client) send(method, path string, body any) error {
	resp, err := c.do(method, path, body)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// apiClient talks to the API server as the pod's service account; the three settings
// default to what a pod sees, and are flags so tests can point it at any API server.
func apiClient(url, caFile, tokenFile string) (client, error) {
	if url == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return client{}, fmt.Errorf("not in a cluster (KUBERNETES_SERVICE_HOST unset) and no --api-url")
		}
		url = "https://" + host + ":" + port
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return client{}, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	// Projected tokens rotate: read the file for every request, as client-go does.
	auth := func() string {
		token, _ := os.ReadFile(tokenFile)
		return "Bearer " + strings.TrimSpace(string(token))
	}
	return client{&http.Client{Transport: transport}, url, auth}, nil
}

type object map[string]any

func (o object) meta() map[string]any {
	meta, _ := o["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	return meta
}

// trimmed drops server bookkeeping no policy reads (managedFields only bloats OPA).
func trimmed(o object) object {
	delete(o.meta(), "managedFields")
	return o
}

type replicator struct {
	api, opa client
	prefix   string
}

func (r replicator) objectPath(k kind, o object) string {
	meta := o.meta()
	path := r.prefix + "/" + k.resource
	if k.namespaced {
		path += "/" + fmt.Sprint(meta["namespace"])
	}
	return path + "/" + fmt.Sprint(meta["name"])
}

// list replaces the whole collection in OPA and returns the list's resourceVersion.
func (r replicator) list(k kind) (string, error) {
	resp, err := r.api.do("GET", k.collection(), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []object `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	doc := map[string]any{}
	for _, item := range body.Items {
		meta := item.meta()
		name := fmt.Sprint(meta["name"])
		if k.namespaced {
			ns := fmt.Sprint(meta["namespace"])
			if doc[ns] == nil {
				doc[ns] = map[string]any{}
			}
			doc[ns].(map[string]any)[name] = trimmed(item)
		} else {
			doc[name] = trimmed(item)
		}
	}
	return body.Metadata.ResourceVersion, r.opa.send("PUT", r.prefix+"/"+k.resource, doc)
}

// watch applies events until the server ends the watch (returns the last version) or
// reports an error such as 410 Gone (returns "" to list again).
func (r replicator) watch(k kind, version string) (string, error) {
	query := fmt.Sprintf("?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s",
		watchSeconds, version)
	resp, err := r.api.do("GET", k.collection()+query, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		var event struct {
			Type   string `json:"type"`
			Object object `json:"object"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &event); err != nil {
			return "", err
		}
		if event.Type == "ERROR" {
			return "", nil
		}
		if rv, ok := event.Object.meta()["resourceVersion"].(string); ok {
			version = rv
		}
		switch event.Type {
		case "ADDED", "MODIFIED":
			err = r.opa.send("PUT", r.objectPath(k, event.Object), trimmed(event.Object))
		case "DELETED":
			err = r.opa.send("DELETE", r.objectPath(k, event.Object), nil)
		}
		if err != nil {
			return "", err
		}
	}
	return version, scanner.Err()
}

func (r replicator) run(k kind) {
	for {
		version, err := r.list(k)
		for err == nil && version != "" {
			version, err = r.watch(k, version)
		}
		if err != nil {
			log.Printf("replicating %s: %v (retrying)", k.resource, err)
			time.Sleep(2 * time.Second)
		}
	}
}

func main() {
	var kinds []kind
	opaURL := flag.String("opa-url", "http://127.0.0.1:8181/v1", "OPA's API base URL")
	insecure := flag.Bool("opa-allow-insecure", false, "skip verifying OPA's certificate")
	prefix := flag.String("replicate-path", "kubernetes", "where under data to replicate")
	flag.Var(listFlag{&kinds, true}, "replicate", "namespaced [group/]version/resource")
	flag.Var(listFlag{&kinds, false}, "replicate-cluster", "cluster-scoped [group/]version/resource")
	// kube-mgmt's switches for policy and data ConfigMaps: this replicator loads neither.
	flag.Bool("enable-policies", false, "accepted for kube-mgmt compatibility; ignored")
	flag.Bool("enable-data", false, "accepted for kube-mgmt compatibility; ignored")
	apiURL := flag.String("api-url", "", "API server URL (default: the in-cluster service)")
	caFile := flag.String("api-ca-file", serviceAccount+"/ca.crt", "API server CA bundle")
	tokenFile := flag.String("api-token-file", serviceAccount+"/token", "bearer token file")
	flag.Parse()
	if len(kinds) == 0 {
		log.Fatal("nothing to replicate: pass --replicate or --replicate-cluster")
	}
	api, err := apiClient(*apiURL, *caFile, *tokenFile)
	if err != nil {
		log.Fatal(err)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: *insecure}}
	opa := client{http: &http.Client{Transport: transport, Timeout: 30 * time.Second},
		base: strings.TrimRight(*opaURL, "/") + "/data"}
	r := replicator{api: api, opa: opa, prefix: "/" + strings.Trim(*prefix, "/")}
	for _, k := range kinds {
		go r.run(k)
	}
	log.Printf("replicating %d kinds into %s%s", len(kinds), *opaURL, r.prefix)
	select {}
}
