package lib.cidr_test

import data.lib.cidr

# lib.cidr against OPA's own net.cidr_contains (Go's net package), case by case: every
# spelling of both families, prefixes on and off group boundaries, host bits set,
# compressed and dotted IPv6, and what is no address at all.
cases := [
	["169.254.0.0/16", "169.254.169.254"],
	["169.254.169.254/32", "169.254.169.254"],
	["169.254.169.255/32", "169.254.169.254"],
	["169.254.169.254/31", "169.254.169.255"],
	["169.254.169.253/31", "169.254.169.254"],
	["0.0.0.0/0", "169.254.169.254"],
	["0.0.0.0/0", "fd00:ec2::254"],
	["::/0", "169.254.169.254"],
	["::/0", "fd00:ec2::254"],
	["10.0.0.0/8", "169.254.169.254"],
	["100.64.0.0/10", "100.100.100.200"],
	["100.128.0.0/10", "100.100.100.200"],
	["169.254.170.0/23", "169.254.170.23"],
	["169.254.168.0/23", "169.254.170.23"],
	["169.254.169.254/20", "169.254.170.2"],
	["fd00:ec2::/64", "fd00:ec2::254"],
	["fd00:ec2::254/128", "fd00:ec2::254"],
	["fd00:ec2::255/128", "fd00:ec2::254"],
	["fd00:ec2:0:0:0:0:0:254/127", "fd00:ec2::255"],
	["FD00:EC2::/32", "fd00:ec2::23"],
	["fd00::/8", "fd00:ec2::23"],
	["fc00::/7", "fd00:ec2::23"],
	["fe00::/7", "fd00:ec2::23"],
	["fd00:ec3::/33", "fd00:ec2::23"],
	["fd00:ec2::/35", "fd00:ec2:1000::"],
	["::ffff:a9fe:a9fe/128", "::ffff:169.254.169.254"],
	["64:ff9b::/96", "64:ff9b::169.254.169.254"],
	["2001:db8::/32", "169.254.169.254"],
	["169.254.0.0/16", "not-an-address"],
	["169.254.0.0", "169.254.169.254"],
	["169.254.0.0/16", "169.254.169"],
	["169.254.0.0/16", "169.254.169.256"],
	["fd00:ec2::/64", "fd00:ec2:::254"],
	["fd00:ec2::/64", "fd00:ec2::254::1"],
	["fd00:ec2::/64", "fd00:ec2:1:2:3:4:5:6:7"],
	["fd00:ec2::/64", "fd00:ec2:1:2:3:4:5:6"],
	["fd00:ec2::/64", "fd00:ec2:0:0:1:2:3:4"],
	["fd00:ec2::/64", "gd00:ec2::254"],
]

test_cidr_contains_agrees_with_opas_builtin if {
	disagreements := [[c, opa, ours] |
		some c in cases
		opa := builtin(c[0], c[1])
		ours := mine(c[0], c[1])
		opa != ours
	]
	disagreements == []
}

builtin(block, address) := net.cidr_contains(block, address) if {
	net.cidr_contains(block, address)
} else := false

mine(block, address) if cidr.includes(block, address)

mine(block, address) := false if not cidr.includes(block, address)

test_both_verdicts_occur if {
	count([c | some c in cases; mine(c[0], c[1])]) > 10
	count([c | some c in cases; not mine(c[0], c[1])]) > 10
}
