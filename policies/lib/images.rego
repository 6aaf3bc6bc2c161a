# Image references read the way the kubelet and the container runtime read them
# (distribution's reference.ParseNormalizedNamed), so that a registry check cannot be
# passed by a spelling the runtime resolves elsewhere. Every place a pod pulls an image
# counts: containers of all three kinds and `image` volumes.
package lib.images

import data.lib.k8s

# distribution/reference's grammar, anchored: [domain[:port]/]path[:tag][@digest]. It is
# checked with string builtins, not with one regular expression: a Wasm-compiled policy
# compiles a pattern again on every evaluation, and this grammar's pattern cost about half
# a millisecond per image. Each piece is checked on the whole string at once (allowed
# characters, first and last character, forbidden neighbours) rather than component by
# component, because each function call costs more than a builtin in every engine.
# tests/test_images.py holds the result to distribution's own parser.
alnum := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

letters := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

hex_digits := "0123456789abcdefABCDEF"

lower_hex := "0123456789abcdef"

path_chars := "abcdefghijklmnopqrstuvwxyz0123456789._-/"

dns_chars := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

tag_chars := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

ipv6_chars := "0123456789abcdefABCDEF:"

# Every character of s is one of chars (trim leaves nothing).
only(s, chars) if trim(s, chars) == ""

# s is non-empty, of chars, and starts and ends with one of ends.
bounded(s, chars, ends) if {
	s != ""
	trim(s, chars) == ""
	trim(substring(s, 0, 1), ends) == ""
	trim(substring(s, count(s) - 1, 1), ends) == ""
}

# The reference split at "@" and at the tag's ":" into its name components, tag and
# digest; undefined when the string has more than one "@" or the last component more
# than one ":".
parts(ref) := {"components": components, "tag": tag, "digest": digest} if {
	at := split(ref, "@")
	count(at) <= 2
	digest := second(at)
	slashes := split(at[0], "/")
	last := split(slashes[count(slashes) - 1], ":")
	count(last) <= 2
	tag := second(last)
	components := array.concat(array.slice(slashes, 0, count(slashes) - 1), [last[0]])
}

second(pieces) := pieces[1] if count(pieces) > 1

else := null

# More than one "@", or more than one ":" in the last component, matches neither clause
# of digest_well_formed or tag_well_formed.
well_formed(ref) if {
	at := split(ref, "@")
	slashes := split(at[0], "/")
	last := split(slashes[count(slashes) - 1], ":")
	name_well_formed(array.concat(array.slice(slashes, 0, count(slashes) - 1), [last[0]]))
	tag_well_formed(last)
	digest_well_formed(at)
}

# The name: path alone, or domain/path as the grammar's optional domain allows.
name_well_formed(components) if {
	path_well_formed(concat("/", components))
} else if {
	count(components) > 1
	domain(components[0])
	path_well_formed(concat("/", array.slice(components, 1, count(components))))
}

# Components of [a-z0-9]+ joined by separators ".", "_", "__" or a run of "-", the
# components themselves joined by "/". On the joined string: every component is
# non-empty and starts and ends with [a-z0-9] exactly when the string is of path_chars,
# starts and ends with none of "._-/" and no two of "._-/" meet other than as "__" or
# "--"; "___" is the one separator of three. strings.replace_n shortens the string
# exactly when one of those forbidden spellings occurs (each becomes one character),
# whether an engine replaces them in one pass or pattern by pattern: one builtin for all
# fifteen. Called for every image a pod pulls, so it is written inline, not with bounded.
path_well_formed(path) if {
	path != ""
	trim(path, path_chars) == ""
	trim(path, "._-/") == path
	count(strings.replace_n(
		{
			"..": "!", "._": "!", ".-": "!", "./": "!",
			"_.": "!", "_-": "!", "_/": "!", "___": "!",
			"-.": "!", "-_": "!", "-/": "!",
			"/.": "!", "/_": "!", "/-": "!", "//": "!",
		},
		path,
	)) == count(path)
}

# host[:port], the host a DNS name or a bracketed IPv6 address.
domain(d) if {
	not startswith(d, "[")
	host_port := split(d, ":")
	count(host_port) <= 2
	dns_name(host_port[0])
	port_well_formed(second(host_port))
}

domain(d) if {
	startswith(d, "[")
	close := indexof(d, "]")
	close > 1
	only(substring(d, 1, close - 1), ipv6_chars)
	rest := substring(d, close + 1, -1)
	port_well_formed(port_after(rest))
}

port_after("") := null

port_after(rest) := substring(rest, 1, -1) if startswith(rest, ":")

port_well_formed(null)

port_well_formed(port) if {
	port != ""
	only(port, "0123456789")
}

# Labels of [a-zA-Z0-9] and inner "-", joined by ".": on the whole name, it starts and
# ends with [a-zA-Z0-9] and no "." meets another "." or a "-".
dns_name(name) if {
	bounded(name, dns_chars, alnum)
	not contains(name, "..")
	not contains(name, ".-")
	not contains(name, "-.")
}

# The last component split at ":": no tag, or one of [\w][\w.-]{0,127} (of tag_chars,
# not starting with "." or "-"). The no-tag case is matched by the argument's shape,
# which costs less than an `every` over an empty list.
tag_well_formed([_])

tag_well_formed([_, tag]) if {
	tag != ""
	count(tag) <= 128
	trim(tag, tag_chars) == ""
	trim_left(tag, ".-") == tag
}

# The reference split at "@": no digest, or algorithm:hex, the algorithm
# [A-Za-z][A-Za-z0-9]* parts joined by one of "-_+.", and at least 32 hex digits of
# either case.
digest_well_formed([_])

digest_well_formed([_, digest]) if {
	colon := indexof(digest, ":")
	colon > 0
	every part in split(replace(replace(replace(substring(digest, 0, colon), "-", "."), "_", "."), "+", "."), ".") {
		algorithm_part(part)
	}
	hex := substring(digest, colon + 1, -1)
	count(hex) >= 32
	only(hex, hex_digits)
}

algorithm_part(part) if {
	part != ""
	only(substring(part, 0, 1), letters)
	only(part, alnum)
}

# A bare 64-hex string names a local image by id: the runtime pulls nothing and no
# registry vouches for it, so distribution refuses it as a repository name.
image_id(image) if {
	count(image) == 64
	only(image, lower_hex)
}

# The first path component is a registry host when it has "." or ":", is "localhost",
# or has an upper-case letter (repository paths are lower-case); otherwise Docker Hub.
# In one test: "." and ":" and a whole "localhost" (framed by "/", which the component
# cannot contain) are replaced by an upper-case letter, and the result is asked whether
# it has one. Every image reaches this, so it is one function body rather than four.
registry_host(first) if {
	marked := strings.replace_n({".": "A", ":": "A", "/localhost/": "A"}, concat("", ["/", first, "/"]))
	lower(marked) != marked
}

# [registry, remainder] as distribution's splitDockerDomain returns them.
split_domain(image) := [domain, rest] if {
	i := indexof(image, "/")
	i > 0
	first := substring(image, 0, i)
	registry_host(first)
	domain := object.get({"index.docker.io": "docker.io"}, first, first)
	rest := substring(image, i + 1, -1)
} else := ["docker.io", image]

# The repository path, which distribution (v0.6) limits to 255 characters: the name
# without its registry host (when the first component reads as one), with Docker Hub's
# "library/" in front of a one-component name.
path_of(image) := concat("", ["library/", parts(rest).components[0]]) if {
	[host, rest] := split_domain(image)
	host == "docker.io"
	not contains(rest, "/")
} else := concat("/", array.slice(components, 1, count(components))) if {
	components := parts(concat("/", split_domain(image))).components
	domain(components[0])
} else := concat("/", parts(concat("/", split_domain(image))).components)

# Why an image string is not a reference the runtime would pull; undefined when it is.
invalid(image) := "is not a string" if {
	not is_string(image)
} else := "is empty" if {
	image == ""
} else := "is an image id, not a reference to a registry" if {
	image_id(image)
} else := "has an upper-case repository name" if {
	lower(image) != image # a lower-case reference has a lower-case repository
	repository := split(split_domain(image)[1], ":")[0]
	lower(repository) != repository
} else := "is not a valid image reference" if {
	not well_formed(concat("/", split_domain(image)))
} else := "has a repository path longer than 255 characters" if {
	count(image) > 247 # the path is at most "library/" longer than the image
	count(path_of(image)) > 255
} else := "has a digest of an unknown algorithm or the wrong length" if {
	contains(image, "@")
	not known_digest(split(image, "@")[1])
}

# go-digest accepts an algorithm only if the program links it, and then exactly its
# length of lower-case hex; the kubelet and containerd link SHA-256, -384 and -512.
digest_lengths := {"sha256": 64, "sha384": 96, "sha512": 128}

known_digest(d) if {
	pieces := split(d, ":")
	count(pieces) == 2
	only(pieces[1], lower_hex)
	count(pieces[1]) == digest_lengths[pieces[0]]
}

registry(image) := split_domain(image)[0]

# Every image the pod pulls: [container or k8s.whole_object, where (for messages), reference].
pulls contains [c, "", c.spec.image] if some c in k8s.containers

pulls contains [k8s.whole_object, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, "): "]), v.image.reference] if {
	some i, v in k8s.pod_spec.volumes
	v.image
}
