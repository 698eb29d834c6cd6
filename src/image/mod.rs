//! Container image references and discovery.
