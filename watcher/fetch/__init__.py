"""Getting a page: HTTP with politeness and hard limits, the transport internals
fenced in one module, and the shared Chromium."""
