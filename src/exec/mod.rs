//! The one command runner: tool discovery, echo, redaction, dry-run, concurrency.
