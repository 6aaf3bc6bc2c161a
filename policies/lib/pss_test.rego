package lib.pss_test

import data.lib.pss

test_null_and_absent_read_as_empty if {
	pss.as_object(null) == {}
	pss.as_object({"a": 1}) == {"a": 1}
	pss.as_string(null) == ""
	pss.as_list(null) == []
}

test_volume_without_a_source_is_unknown if {
	pss.volume_type({"name": "v"}) == "unknown"
	pss.volume_type({"name": "v", "nfs": {"server": "x"}}) == "nfs"
}
