package lib.scanner_test

import data.controls.nsa_1_3

pod(image) := {"request": {
	"operation": "CREATE",
	"kind": {"kind": "Pod"},
	"object": {"metadata": {"name": "a", "namespace": "shop"}, "spec": {"containers": [{"name": "app", "image": image}]}},
}}

config := {"trusted_registries": ["docker.io"], "image_scanner": {"url": "http://scanner.test/scan", "deny_severity": "HIGH"}}

answer(request) := {"status_code": 200, "body": {"vulnerabilities": [{"id": "CVE-1", "severity": "critical"}, {"id": "CVE-2", "severity": "LOW"}]}} if {
	request.body.image == "vulnerable:1"
}

answer(request) := {"status_code": 200, "body": {"vulnerabilities": []}} if request.body.image == "clean:1"

answer(request) := {"status_code": 503, "body": {}} if request.body.image == "broken:1"

unreachable(_) := {"status_code": 0, "error": {"message": "connection refused"}}

test_vulnerability_at_or_above_threshold_denies if {
	nsa_1_3.deny == {"[NSA-1.3] Pod shop/a: container app (spec.containers[0]): image vulnerable:1 has CRITICAL vulnerability CVE-1"} with input as pod("vulnerable:1")
		with data.config as config
		with http.send as answer
}

test_clean_image_passes if {
	count(nsa_1_3.deny) == 0 with input as pod("clean:1") with data.config as config with http.send as answer
}

test_failing_scanner_denies if {
	nsa_1_3.deny == {"[NSA-1.3] Pod shop/a: container app (spec.containers[0]): image broken:1 could not be scanned (HTTP 503)"} with input as pod("broken:1")
		with data.config as config
		with http.send as answer
}

test_unreachable_scanner_denies if {
	nsa_1_3.deny == {"[NSA-1.3] Pod shop/a: container app (spec.containers[0]): image clean:1 could not be scanned (connection refused)"} with input as pod("clean:1")
		with data.config as config
		with http.send as unreachable
}

test_scanner_off_by_default if {
	count(nsa_1_3.deny) == 0 with input as pod("vulnerable:1") with data.config.trusted_registries as ["docker.io"]
}
