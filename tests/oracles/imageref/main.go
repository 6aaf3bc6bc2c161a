// Reads one image reference per line and prints, per line, the JSON the kubelet's own
// parser gives it (distribution/reference.ParseNormalizedNamed): the registry host, or
// the error. The policies' image parsing (policies/lib/images.rego) is tested against it.
package main

import (
	"bufio"
	_ "crypto/sha256" // digest algorithms the kubelet and containerd link in
	_ "crypto/sha512"
	"encoding/json"
	"os"

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
		v := verdict{Ref: ref}
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Domain = reference.Domain(named)
		}
		if err := out.Encode(v); err != nil {
			panic(err)
		}
	}
}
