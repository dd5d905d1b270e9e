"""Reading and decoding untrusted videos with PyAV, for every stage that decodes (framegrid, split): the source
policy and read limits, local and remote readers, the decode device, a bounded decode pool, a frame cursor."""
