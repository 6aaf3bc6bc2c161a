module pac-harness/oracles/imageref

go 1.26.6

require (
	github.com/containerd/containerd/v2 v2.4.2
	github.com/distribution/reference v0.6.0
)

require github.com/opencontainers/go-digest v1.0.0 // indirect
