"""`mira review`: a local web page over the record and blob stores, for people deciding whether to trust a
prompt or a model: grids and captions, filters, version diffs, failures, stats, and "send back"."""
