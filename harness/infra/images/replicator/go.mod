module pacharness.local/replicator

go 1.26.0
