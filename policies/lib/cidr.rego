package lib.cidr

# IP addresses and CIDRs as NetworkPolicy's ipBlock reads them (Go's net.ParseCIDR and
# IPNet.Contains, which kube-router, Calico and cyclonus use): an address is in a CIDR
# when both are of one family and their first prefix-length bits agree. Written in plain
# Rego because rego-cpp (the embedded target) has no net.* builtins; cidr_test.rego holds
# it to OPA's net.cidr_contains. IPv4-mapped IPv6 CIDRs (::ffff:0:0/96), which Go reads
# as IPv4, count as IPv6 here; kube-apiserver refuses such CIDRs in new objects
# (StrictIPCIDRValidation), so no stored policy has one.

# The address as a list of numbers: 4 octets for IPv4, 8 groups of 16 bits for IPv6.
groups(address) := ipv4(address)

groups(address) := g if {
	not contains(address, ".")
	g := ipv6(address)
}

ipv4(address) := g if {
	parts := split(address, ".")
	count(parts) == 4
	every p in parts {
		regex.match(`^[0-9]{1,3}$`, p)
	}
	g := [to_number(p) | some p in parts]
	every n in g {
		n <= 255
	}
}

# An IPv6 address ending in dotted IPv4 (::ffff:169.254.169.254) has its last two
# groups written as four octets.
groups(address) := g if {
	contains(address, ":")
	parts := split(address, ":")
	v4 := ipv4(parts[count(parts) - 1])
	head := ipv6(concat("", [concat(":", array.slice(parts, 0, count(parts) - 1)), ":0:0"]))
	g := array.concat(array.slice(head, 0, 6), [(v4[0] * 256) + v4[1], (v4[2] * 256) + v4[3]])
}

ipv6(address) := g if {
	count(split(address, "::")) == 1
	g := hex_groups(address)
	count(g) == 8
}

ipv6(address) := g if {
	halves := split(address, "::")
	count(halves) == 2
	head := hex_groups(halves[0])
	tail := hex_groups(halves[1])
	fill := (8 - count(head)) - count(tail)
	fill >= 1
	g := array.concat(array.concat(head, array.slice([0, 0, 0, 0, 0, 0, 0, 0], 0, fill)), tail)
}

hex_groups(text) := [] if text == ""

hex_groups(text) := [hex_value(p) | some p in parts] if {
	text != ""
	parts := split(text, ":")
	every p in parts {
		regex.match(`^[0-9a-fA-F]{1,4}$`, p)
	}
}

hex_digits := {
	"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9,
	"a": 10, "b": 11, "c": 12, "d": 13, "e": 14, "f": 15,
	"A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15,
}

powers_of_16 := [1, 16, 256, 4096]

hex_value(text) := sum(values) if {
	digits := split(text, "")
	last := count(digits) - 1
	values := [(hex_digits[digits[i]] * powers_of_16[last - i]) | some i in numbers.range(0, last)]
}

powers_of_2 := [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]

# includes(block, address): address lies in the CIDR block, both of one family.
includes(block, address) if {
	parts := split(block, "/")
	count(parts) == 2
	regex.match(`^[0-9]{1,3}$`, parts[1])
	prefix := to_number(parts[1])
	network := groups(parts[0])
	host := groups(address)
	count(network) == count(host)
	width := {4: 8, 8: 16}[count(host)] # bits per group
	prefix <= width * count(host)
	full := floor(prefix / width)
	array.slice(network, 0, full) == array.slice(host, 0, full)
	same_partial_group(network, host, full, prefix - (full * width), width)
}

same_partial_group(_, _, _, 0, _)

same_partial_group(network, host, i, bits, width) if {
	bits > 0
	step := powers_of_2[width - bits]
	floor(network[i] / step) == floor(host[i] / step)
}
