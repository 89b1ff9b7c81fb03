"""Native engines: long-lived processes that keep compute on the best torch device and
serve their engine's GPU-capable operations over a Unix socket (see ipc/)."""
