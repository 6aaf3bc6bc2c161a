package lib.images_test

import data.lib.images

test_registry_as_distribution_splits_it if {
	images.registry("nginx") == "docker.io"
	images.registry("library/nginx:1") == "docker.io"
	images.registry("index.docker.io/library/nginx") == "docker.io"
	images.registry("quay.io/a/b") == "quay.io"
	images.registry("localhost/a") == "localhost"
	images.registry("localhost:5000/a") == "localhost:5000"
	images.registry("myregistry:443/a") == "myregistry:443"
	images.registry("Evil/a") == "Evil"
	images.registry("[::1]:5000/a") == "[::1]:5000"
}

test_valid_references if {
	not images.invalid("nginx")
	not images.invalid("nginx:Latest")
	not images.invalid(concat("", ["registry.k8s.io/pause@sha256:", concat("", [x | some _ in numbers.range(1, 64); x := "a"])]))
	not images.invalid("localhost:5000/a/b_c__d-e.f:1.0")
}

test_invalid_references if {
	images.invalid(5) == "is not a string"
	images.invalid("") == "is empty"
	images.invalid(concat("", ["0123456789abcdef", "0123456789abcdef", "0123456789abcdef", "0123456789abcdef"])) == "is an image id, not a reference to a registry"
	images.invalid("quay.io/Team/app") == "has an upper-case repository name"
	images.invalid("a//b") == "is not a valid image reference"
	images.invalid("-a") == "is not a valid image reference"
	images.invalid(concat("", ["nginx@sha256:", concat("", [x | some _ in numbers.range(1, 40); x := "0"])])) == "has a digest of an unknown algorithm or the wrong length"
	images.invalid(concat("/", ["quay.io", concat("", [x | some _ in numbers.range(1, 256); x := "a"])])) == "has a repository path longer than 255 characters"
	not images.invalid(concat("/", ["quay.io", concat("", [x | some _ in numbers.range(1, 255); x := "a"])]))
	images.invalid(concat("", [x | some _ in numbers.range(1, 248); x := "a"])) == "has a repository path longer than 255 characters"

	# a first component that is no host name stays part of the path
	images.invalid(concat("/", ["a_b.com", concat("", [x | some _ in numbers.range(1, 250); x := "a"])])) == "has a repository path longer than 255 characters"
}

# The grammar's pieces one by one (tests/test_images.py compares thousands of spellings
# with distribution's parser; these name the cases the pieces exist for).
test_grammar_pieces if {
	images.invalid("a..b") == "is not a valid image reference"
	images.invalid("a._b") == "is not a valid image reference"
	not images.invalid("a__b---c.d_e")
	not images.invalid("[::1]/a")
	not images.invalid("[::1]:5000/a:v1")
	images.invalid("[::1]x/a") == "is not a valid image reference"
	images.invalid("[]:5000/a") == "is not a valid image reference"
	images.invalid("host:12a/a") == "is not a valid image reference"
	images.invalid("a-.com/x") == "is not a valid image reference"
	images.invalid("nginx:.x") == "is not a valid image reference"
	images.invalid("nginx@sha-256:abc") == "is not a valid image reference"
}
