# Image references read the way the kubelet and the container runtime read them
# (distribution's reference.ParseNormalizedNamed), so that a registry check cannot be
# passed by a spelling the runtime resolves elsewhere. Every place a pod pulls an image
# counts: containers of all three kinds and `image` volumes.
package lib.images

import data.lib.k8s

# distribution/reference's grammar, anchored: [domain[:port]/]path[:tag][@digest].
reference_pattern := `^(?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,})?$`

# A bare 64-hex string names a local image by id: the runtime pulls nothing and no
# registry vouches for it, so distribution refuses it as a repository name.
image_id_pattern := `^[a-f0-9]{64}$`

# The first path component is a registry host when it has "." or ":", is "localhost",
# or has an upper-case letter (repository paths are lower-case); otherwise Docker Hub.
registry_host(first) if indexof(first, ".") >= 0

registry_host(first) if indexof(first, ":") >= 0

registry_host("localhost")

registry_host(first) if lower(first) != first

# [registry, remainder] as distribution's splitDockerDomain returns them.
split_domain(image) := [domain, rest] if {
	i := indexof(image, "/")
	i > 0
	first := substring(image, 0, i)
	registry_host(first)
	domain := legacy_docker(first)
	rest := substring(image, i + 1, -1)
} else := ["docker.io", image]

legacy_docker("index.docker.io") := "docker.io"

legacy_docker(host) := host if host != "index.docker.io"

# The repository (before the first ":") must be lower-case.
repository(rest) := substring(rest, 0, indexof(rest, ":")) if indexof(rest, ":") >= 0

repository(rest) := rest if indexof(rest, ":") < 0

# The name (without tag and digest) is at most 255 characters.
name_of(image) := regex.replace(split(image, "@")[0], `:[\w][\w.-]{0,127}$`, "")

# Why an image string is not a reference the runtime would pull; undefined when it is.
invalid(image) := "is not a string" if {
	not is_string(image)
} else := "is empty" if {
	image == ""
} else := "is an image id, not a reference to a registry" if {
	regex.match(image_id_pattern, image)
} else := "has an upper-case repository name" if {
	rest := split_domain(image)[1]
	lower(repository(rest)) != repository(rest)
} else := "is not a valid image reference" if {
	not regex.match(reference_pattern, concat("/", split_domain(image)))
} else := "has a name longer than 255 characters" if {
	count(name_of(concat("/", split_domain(image)))) > 255
} else := "has a digest of an unknown algorithm or the wrong length" if {
	contains(image, "@")
	not known_digest(split(image, "@")[1])
}

# go-digest accepts an algorithm only if the program links it, and then exactly its
# length of lower-case hex; the kubelet and containerd link SHA-256, -384 and -512.
digest_lengths := {"sha256": 64, "sha384": 96, "sha512": 128}

known_digest(d) if {
	parts := split(d, ":")
	count(parts) == 2
	regex.match(`^[a-f0-9]+$`, parts[1])
	count(parts[1]) == digest_lengths[parts[0]]
}

registry(image) := split_domain(image)[0]

# Every image the pod pulls: [container or null, where (for messages), reference].
pulls contains [c, "", c.spec.image] if some c in k8s.containers

pulls contains [null, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, "): "]), v.image.reference] if {
	some i, v in k8s.pod_spec.volumes
	v.image
}
