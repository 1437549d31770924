//! The HTTP layer: listeners, routers, extractors, and the one mapping of errors to responses.
//! Handlers are thin: they extract, call the protocol core, and map the result.
