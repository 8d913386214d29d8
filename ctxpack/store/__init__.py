"""The on-disk index: LanceDB tables, manifest, journal, snapshot cache and write lock."""
