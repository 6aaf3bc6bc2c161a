// Reads one image reference per line and prints, per line, the JSON the kubelet and
// containerd give it: the error of distribution/reference.ParseNormalizedNamed (the
// kubelet's parser), or the registry host containerd's CRI pulls from (ParseDockerRef,
// then containerd's own reference.Parse(...).Hostname(), as its docker resolver does).
// The host is the parsed domain except where the first component reads as a registry
// (it has "." or ":", or is "localhost") but is no valid domain: distribution then keeps
// it in the path with an empty domain, and containerd still contacts it.
// The policies' image parsing (policies/lib/images.rego) is tested against it.
package main

import (
	"bufio"
	_ "crypto/sha256" // digest algorithms the kubelet and containerd link in
	_ "crypto/sha512"
	"encoding/json"
	"os"

	ctrref "github.com/containerd/containerd/v2/pkg/reference"
	"github.com/distribution/reference"
)

type verdict struct {
	Ref    string `json:"ref"`
	Domain string `json:"domain,omitempty"`
	Error  string `json:"error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var ref string
		if err := json.Unmarshal(in.Bytes(), &ref); err != nil {
			panic(err)
		}
		if err := out.Encode(judge(ref)); err != nil {
			panic(err)
		}
	}
}

func judge(ref string) verdict {
	v := verdict{Ref: ref}
	named, err := reference.ParseDockerRef(ref) // ParseNormalizedNamed, then the tag dropped beside a digest
	if err != nil {
		v.Error = err.Error()
		return v
	}
	spec, err := ctrref.Parse(named.String())
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Domain = spec.Hostname()
	return v
}
