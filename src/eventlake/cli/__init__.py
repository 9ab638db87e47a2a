"""The `eventlake` command: a thin layer of click commands over the library."""
