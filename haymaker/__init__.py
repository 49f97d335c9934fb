"""HayMaker domain library: settings, catalog, run requests; no Functions runtime needed."""
